import { UpstreamError } from '../errors/image-resize.errors';
import { serverAddress, traceableMessage } from './image-resize.tracing';

describe('what spans may say', () => {
  it('records the host of a URL alone: no credentials, port, path or query', () => {
    expect(serverAddress('https://user:secret@cdn.example.com:8443/logos/acme.png?token=abc')).toBe(
      'cdn.example.com',
    );
    expect(serverAddress('http://[2001:db8::1]:8080/a.png')).toBe('2001:db8::1');
    expect(serverAddress('not a url')).toBeUndefined();
  });

  it("keeps the library's own messages, and takes URLs and addresses out of any other", () => {
    expect(traceableMessage(new UpstreamError('Image source answered with status 500'))).toBe(
      'Image source answered with status 500',
    );
    const message = traceableMessage(
      new Error(
        'GET https://user:secret@cdn.example.com/a.png?token=abc failed: connect ECONNREFUSED 10.0.0.5:443',
      ),
    );
    expect(message).toBe('GET <url> failed: connect ECONNREFUSED <address>');
    expect(traceableMessage('plain text from 192.168.1.2')).toBe('plain text from <address>');
  });
});
