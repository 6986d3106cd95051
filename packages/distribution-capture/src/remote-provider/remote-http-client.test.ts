import { describe, expect, it } from 'vitest';
import { errorMessageOf, parseRetryAfter } from './remote-http-client.js';

describe('errorMessageOf', () => {
  it('reads every error body shape servers send', () => {
    // vLLM now (ErrorResponse{error: ErrorInfo}) and SGLang's /generate
    expect(
      errorMessageOf('{"error":{"message":"too long","type":"BadRequestError","param":null,"code":400}}'),
    ).toBe('too long');
    // vLLM before the nested ErrorResponse
    expect(
      errorMessageOf(
        '{"object":"error","message":"too long","type":"BadRequestError","param":null,"code":400}',
      ),
    ).toBe('too long');
    // FastAPI's HTTPException and validation errors
    expect(errorMessageOf('{"detail":"Not Found"}')).toBe('Not Found');
    expect(errorMessageOf('{"detail":[{"loc":["body","prompt"],"msg":"field required"}]}')).toBe(
      '[{"loc":["body","prompt"],"msg":"field required"}]',
    );
    // TGI
    expect(errorMessageOf('{"error":"Input validation error","error_type":"validation"}')).toBe(
      'Input validation error',
    );
    // a proxy's HTML or plain text
    expect(errorMessageOf('  502 Bad Gateway\n')).toBe('502 Bad Gateway');
  });
});

describe('parseRetryAfter', () => {
  it('delay-seconds or an HTTP date, in milliseconds', () => {
    expect(parseRetryAfter('3')).toBe(3000);
    expect(parseRetryAfter('0.5')).toBe(500);
    const now = Date.parse('Thu, 03 Dec 2026 17:00:00 GMT');
    expect(parseRetryAfter('Thu, 03 Dec 2026 17:00:07 GMT', now)).toBe(7000);
    expect(parseRetryAfter('Thu, 03 Dec 2026 16:59:00 GMT', now)).toBe(0);
    expect(parseRetryAfter(null)).toBeUndefined();
    expect(parseRetryAfter('soon')).toBeUndefined();
  });
});
