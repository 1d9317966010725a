// FRR's vty socket framing, the protocol vtysh speaks to every daemon (lib/vty.c vtysh_read, vtysh/vtysh.c vtysh_client_run): pure encode/decode.
//
// A command goes out as its text and one NUL byte. The daemon runs each NUL-terminated command in
// the order received and answers with the command's output text, then three NUL bytes, then one
// status byte (lib/command.h CMD_*: 0 success, 1 warning, 2 unknown command, 13 config failed...).
// Daemon output is text, so the first NUL after a reply's start is its terminator: anything else
// there (a NUL not followed by two more) is a protocol error, never guessed around.

/** One answer: the command's output and its status byte. */
export interface VtyReply {
  text: string;
  status: number;
}

/** lib/command.h's return codes, for messages (FRR 8.x; the numbers are stable since Quagga). */
export const CMD_STATUS: Record<number, string> = {
  0: 'success',
  1: 'warning',
  2: 'unknown command',
  3: 'ambiguous command',
  4: 'incomplete command',
  5: 'too many arguments',
  6: 'nothing to do',
  10: 'success (daemon)',
  11: 'no such file',
  12: 'suspended',
  13: 'configuration failed',
  14: 'not my instance',
  15: 'no level up',
  16: 'no daemon',
};

export const statusText = (status: number): string => `${CMD_STATUS[status] ?? 'unknown status'} (${status})`;

/** The bytes that send one command. A NUL or a line break would split it into several commands
 *  (vtysh -c never sends either), so they are refused, not sent. */
export function encodeCommand(cmd: string): Buffer {
  if (/[\0\r\n]/.test(cmd)) throw new TypeError(`a vty command cannot hold a NUL or a line break: ${JSON.stringify(cmd)}`);
  return Buffer.from(`${cmd}\0`, 'utf8');
}

export class VtyProtocolError extends Error {}

/**
 * Splits the daemon's byte stream into replies. Chunks arrive as the socket delivers them: a reply
 * may span many chunks and one chunk may end several replies or stop inside a terminator. Each byte
 * is looked at once (large replies, e.g. a 60 KB running config, are joined only when complete).
 */
export class ReplyDecoder {
  private chunks: Buffer[] = [];
  private length = 0;
  /** bytes of the current reply already scanned without finding a NUL */
  private scanned = 0;

  /** Feed a chunk; returns the replies it completed, in order. Throws VtyProtocolError on bytes
   *  that are not a reply (the stream cannot be trusted after that). */
  push(chunk: Buffer): VtyReply[] {
    if (chunk.length === 0) return [];
    this.chunks.push(chunk);
    this.length += chunk.length;
    const out: VtyReply[] = [];
    for (;;) {
      const nul = this.findNul();
      if (nul < 0 || this.length < nul + 4) return out;
      const buf = this.take(nul + 4);
      if (buf[nul + 1] !== 0 || buf[nul + 2] !== 0) {
        throw new VtyProtocolError(`a NUL byte inside a reply (byte ${nul} of ${buf.length}): not FRR's vty protocol`);
      }
      out.push({ text: buf.toString('utf8', 0, nul), status: buf[nul + 3]! });
    }
  }

  /** Bytes received that belong to a reply not complete yet. */
  get pending(): number {
    return this.length;
  }

  /** Offset of the first NUL of the current reply, or -1; remembers how far it looked. */
  private findNul(): number {
    let base = 0;
    for (const c of this.chunks) {
      if (base + c.length > this.scanned) {
        const i = c.indexOf(0, Math.max(0, this.scanned - base));
        if (i >= 0) return base + i;
      }
      base += c.length;
    }
    this.scanned = this.length;
    return -1;
  }

  /** Remove and return the first n bytes. */
  private take(n: number): Buffer {
    const all = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.length);
    const head = all.subarray(0, n);
    const rest = all.subarray(n);
    this.chunks = rest.length > 0 ? [rest] : [];
    this.length = rest.length;
    this.scanned = 0;
    return head;
  }
}
