import type { Redis } from 'ioredis';

/**
 * Coalesces the commands a client sends in one tick into one socket write: under
 * concurrency (a command already awaiting its reply), the first command of a tick
 * corks the client's socket and a `process.nextTick` uncorks it, so the commands
 * issued meanwhile (concurrent callers resumed by one batch of replies) leave in one
 * `writev` instead of one syscall each. Over loopback a socket write costs about what
 * a command's JavaScript does. A command on an idle connection (a lone caller) leaves
 * at once. A client not ready (no socket, or reconnecting) is left alone: ioredis
 * queues or rejects the command itself.
 */
export function writeCoalescer(client: Redis): () => void {
  let corked: { uncork(): void } | undefined;
  const flush = () => {
    const stream = corked;
    corked = undefined;
    stream?.uncork();
  };
  return () => {
    if (corked !== undefined || client.status !== 'ready' || client.commandQueue.length === 0) return;
    const stream = client.stream;
    if (stream === undefined || stream === null) return;
    stream.cork();
    corked = stream;
    process.nextTick(flush);
  };
}
