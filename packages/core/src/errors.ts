import { closestName } from './closest-name.js';

/**
 * Every error fusechat throws on purpose is a {@link FuseChatError}: a stable machine-readable
 * `code`, a message that says what was wrong, where, and what to do, structured fields for
 * programs, and the wrapped `cause` when there is one.
 *
 * @example
 * ```ts
 * try { await readHeader(path) } catch (error) {
 *   if (isFuseChatError(error, 'SAFETENSORS_TRUNCATED')) console.error(error.details.path);
 * }
 * ```
 */
export class FuseChatError extends Error {
  /** Stable identifier, SCREAMING_SNAKE_CASE, namespaced by area (`SAFETENSORS_…`, `CONFIG_…`). */
  readonly code: string;
  /** Structured context: file path, byte offset, tensor name, shapes, known names… */
  readonly details: Readonly<Record<string, unknown>>;

  constructor(
    code: string,
    message: string,
    options: { cause?: unknown; details?: Record<string, unknown> } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.details = Object.freeze({ ...(options.details ?? {}) });
  }

  toJSON(): Record<string, unknown> {
    return { name: this.name, code: this.code, message: this.message, ...this.details };
  }
}

/** Invalid argument, option or configuration value at a public boundary. */
export class InvalidInputError extends FuseChatError {
  /** Dotted path of the offending field (`models[1].parameters.weight`), when there is one. */
  readonly field: string | undefined;
  constructor(
    message: string,
    options: { code?: string; field?: string; cause?: unknown; details?: Record<string, unknown> } = {},
  ) {
    super(options.code ?? 'INVALID_INPUT', message, {
      cause: options.cause,
      details: { ...options.details, field: options.field },
    });
    this.field = options.field;
  }
}

/** A file that is not what it claims to be: truncated, malformed, inconsistent. */
export class FileFormatError extends FuseChatError {
  readonly path: string | undefined;
  /** Byte offset into the file where the problem is, when known. */
  readonly offset: number | undefined;
  /** Tensor (or record) the problem belongs to, when known. */
  readonly tensorName: string | undefined;
  constructor(
    code: string,
    message: string,
    options: {
      path?: string;
      offset?: number;
      tensorName?: string;
      cause?: unknown;
      details?: Record<string, unknown>;
    } = {},
  ) {
    super(code, message, {
      cause: options.cause,
      details: {
        ...options.details,
        path: options.path,
        offset: options.offset,
        tensorName: options.tensorName,
      },
    });
    this.path = options.path;
    this.offset = options.offset;
    this.tensorName = options.tensorName;
  }
}

/** Two things that must agree in shape (or dtype) do not. */
export class ShapeMismatchError extends FuseChatError {
  readonly tensorName: string | undefined;
  readonly expectedShape: readonly number[];
  readonly actualShape: readonly number[];
  constructor(
    message: string,
    options: {
      code?: string;
      tensorName?: string;
      expectedShape: readonly number[];
      actualShape: readonly number[];
      cause?: unknown;
      details?: Record<string, unknown>;
    },
  ) {
    super(options.code ?? 'SHAPE_MISMATCH', message, {
      cause: options.cause,
      details: {
        ...options.details,
        tensorName: options.tensorName,
        expectedShape: options.expectedShape,
        actualShape: options.actualShape,
      },
    });
    this.tensorName = options.tensorName;
    this.expectedShape = options.expectedShape;
    this.actualShape = options.actualShape;
  }
}

/** A name looked up in a registry (merge method, architecture, backend…) is not there. */
export class UnknownNameError extends FuseChatError {
  readonly kind: string;
  readonly unknownName: string;
  readonly knownNames: readonly string[];
  constructor(
    kind: string,
    unknownName: string,
    knownNames: readonly string[],
    options: { code?: string } = {},
  ) {
    const suggestion = closestName(unknownName, knownNames);
    super(
      options.code ?? 'UNKNOWN_NAME',
      `Unknown ${kind} "${unknownName}".${suggestion ? ` Did you mean "${suggestion}"?` : ''} Known: ${
        knownNames.length > 0 ? knownNames.join(', ') : '(none registered)'
      }.`,
      { details: { kind, name: unknownName, known: knownNames } },
    );
    this.kind = kind;
    this.unknownName = unknownName;
    this.knownNames = knownNames;
  }
}

/** Data that was built for something else: a map for other tokenizers, a store of another model. */
export class IntegrityError extends FuseChatError {
  constructor(
    code: string,
    message: string,
    options: { cause?: unknown; details?: Record<string, unknown> } = {},
  ) {
    super(code, message, options);
  }
}

/** Numerical trouble in inputs or outputs: NaN/Inf logits, overflow. */
export class NumericalError extends FuseChatError {
  readonly tensorName: string | undefined;
  constructor(
    message: string,
    options: { code?: string; tensorName?: string; details?: Record<string, unknown> } = {},
  ) {
    super(options.code ?? 'NON_FINITE', message, {
      details: { ...options.details, tensorName: options.tensorName },
    });
    this.tensorName = options.tensorName;
  }
}

/** `true` when `error` is a {@link FuseChatError}, optionally with the given code. */
export function isFuseChatError(error: unknown, code?: string): error is FuseChatError {
  return error instanceof FuseChatError && (code === undefined || error.code === code);
}
