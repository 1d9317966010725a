// One connection to an FRR daemon's vty socket (bgpd.vty): connect, send commands, read their replies (framing in core/vtyframe.ts).
import { createConnection, type Socket } from 'node:net';
import { ReplyDecoder, encodeCommand, type VtyReply } from '../core/vtyframe.js';

/** Why a connection could not be used; `connect` failures are the ones a caller may fall back on. */
export class VtyConnError extends Error {
  constructor(
    readonly stage: 'connect' | 'closed' | 'timeout' | 'protocol',
    message: string,
    /** errno code of a connect or socket error (ENOENT, ECONNREFUSED, EACCES...) */
    readonly errno?: string,
  ) {
    super(message);
  }
}

interface Pending {
  resolve(r: VtyReply): void;
  reject(e: Error): void;
}

export class VtyConnection {
  private readonly decoder = new ReplyDecoder();
  private readonly waiting: Pending[] = [];
  private broken: VtyConnError | null = null;

  private constructor(
    private readonly socket: Socket,
    readonly path: string,
  ) {
    socket.on('data', (chunk: Buffer) => {
      let replies: VtyReply[];
      try {
        replies = this.decoder.push(chunk);
      } catch (e) {
        this.fail(new VtyConnError('protocol', `${path}: ${(e as Error).message}`));
        return;
      }
      for (const r of replies) {
        const p = this.waiting.shift();
        if (!p) {
          this.fail(new VtyConnError('protocol', `${path}: a reply nobody asked for`));
          return;
        }
        p.resolve(r);
      }
      if (this.waiting.length === 0) socket.unref();
    });
    socket.on('error', (e: NodeJS.ErrnoException) => this.fail(new VtyConnError('closed', `${path}: ${e.code ?? e.message}`, e.code)));
    socket.on('close', () => this.fail(new VtyConnError('closed', `${path}: the daemon closed the connection`)));
  }

  /** Connect; rejects with a VtyConnError of stage 'connect' (errno set) when nobody listens there
   *  or we may not, and 'timeout' when the connect does not finish by the deadline. */
  static open(path: string, timeoutMs: number): Promise<VtyConnection> {
    return new Promise((resolve, reject) => {
      const socket = createConnection({ path });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new VtyConnError('timeout', `${path}: connect did not finish within ${timeoutMs} ms`));
      }, timeoutMs);
      socket.once('error', (e: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        reject(new VtyConnError('connect', `${path}: ${e.code ?? e.message}`, e.code));
      });
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.removeAllListeners('error');
        socket.setNoDelay?.(true);
        socket.unref(); // idle: never holds the process open
        resolve(new VtyConnection(socket, path));
      });
    });
  }

  get usable(): boolean {
    return this.broken === null;
  }

  /** Send commands at once (they run in order) and resolve with their replies, in order. */
  send(cmds: string[], timeoutMs: number): Promise<VtyReply[]> {
    if (cmds.length === 0) return Promise.resolve([]);
    if (this.broken) return Promise.reject(this.broken);
    const frames = cmds.map(encodeCommand);
    const replies = cmds.map(
      () =>
        new Promise<VtyReply>((resolve, reject) => {
          this.waiting.push({ resolve, reject });
        }),
    );
    this.socket.ref();
    this.socket.write(frames.length === 1 ? frames[0]! : Buffer.concat(frames));
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const e = new VtyConnError('timeout', `${this.path}: no answer within ${timeoutMs} ms`);
        this.fail(e);
        reject(e);
      }, timeoutMs);
    });
    return Promise.race([Promise.all(replies), late]).finally(() => clearTimeout(timer));
  }

  close(): void {
    this.fail(new VtyConnError('closed', `${this.path}: closed by vip-mgmt`));
  }

  /** The connection is unusable from now on: every waiting command fails with E. */
  private fail(e: VtyConnError): void {
    if (!this.broken) this.broken = e;
    for (const p of this.waiting.splice(0)) p.reject(this.broken);
    this.socket.destroy();
  }
}
