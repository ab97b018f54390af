import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import prettier from 'eslint-config-prettier';
import importX from 'eslint-plugin-import-x';

export default tseslint.config(
  { ignores: ['**/node_modules/**', '**/dist/**', 'coverage/**', 'test-output/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  prettier,
  {
    files: ['**/*.js', '**/*.cjs'],
    languageOptions: {
      sourceType: 'commonjs',
      globals: {
        require: 'readonly',
        module: 'writable',
        process: 'readonly',
        console: 'readonly',
        __dirname: 'readonly',
      },
    },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    files: ['**/*.ts'],
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    // The library's runtime imports must be declared in its own package.json: the workspace hoists
    // every package, so an undeclared one works here and breaks (or loads another version) in an app.
    files: ['libs/image-resize/src/**/*.ts'],
    ignores: ['**/*.spec.ts'],
    plugins: { 'import-x': importX },
    rules: {
      // Nest's internal paths change between majors: what the library needs of them is probed in
      // decorators/nest-internals.ts instead.
      'no-restricted-imports': ['error', { patterns: ['@nestjs/*/*'] }],
      'import-x/no-extraneous-dependencies': [
        'error',
        {
          packageDir: ['libs/image-resize'],
          devDependencies: false,
          optionalDependencies: false,
          peerDependencies: true,
          bundledDependencies: false,
          includeTypes: true,
        },
      ],
    },
  },
);
