/** A reply from the peer that is not the success the caller expected (4xx/5xx). */
export class FtpReplyError extends Error {
  // `string`, not the literal: subclasses (client/errors.ts FtpLoginError) name themselves.
  override readonly name: string = "FtpReplyError";
  /** The three-digit reply code. */
  readonly code: number;
  /** The command that drew the reply, with any password masked. */
  readonly command: string;
  /** The reply's text, without code or command. */
  readonly text: string;
  constructor(code: number, text: string, command = "", options?: { cause?: unknown }) {
    super(command ? `${command}: ${code} ${text}` : `${code} ${text}`, options);
    this.code = code;
    this.command = command;
    this.text = text;
  }
  /** 4xx replies say "try again later" (RFC 959 section 4.2). */
  get isTransient(): boolean {
    return this.code >= 400 && this.code < 500;
  }
  /** 5xx replies say "do not repeat this request as it is". */
  get isPermanent(): boolean {
    return this.code >= 500 && this.code < 600;
  }
}

/** The peer broke the protocol: an unparsable reply, a malformed address, a hostile name. */
export class ProtocolError extends Error {
  override readonly name = "ProtocolError";
}

/**
 * An error and its causes, outermost first: every layer (client, sync engine, daemon) wraps
 * errors with `{ cause }`, and each classifier looks for its fact anywhere down the chain.
 * Bounded, so a cyclic chain cannot loop.
 */
export function* causeChain(err: unknown, maxDepth = 20): Generator<unknown> {
  for (let e: unknown = err, depth = 0; e && depth < maxDepth; e = (e as { cause?: unknown }).cause, depth++) yield e;
}
