export default function Page() {
  return <p>Next.js image optimizer peer for the benchmark.</p>;
}
