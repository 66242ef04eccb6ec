import net from 'node:net';
import { NovaError } from '../../errors.js';

/**
 * The public port the delivery threads will share, checked free first.
 *
 * Why: uWebSockets.js sets SO_REUSEPORT on any port but 0, which is how the
 * threads share one; it also means a second server started on a port already
 * taken by another (same-user) process would quietly get half its
 * connections. A plain bind tells us first. Port 0 (tests, "any port") gets a
 * free ephemeral port the same way; another process could take it in the
 * moment before the threads bind, and then their listen fails loudly.
 */
export function portForSharing(host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', (err: NodeJS.ErrnoException) =>
      reject(
        err.code === 'EADDRINUSE'
          ? new NovaError('NOVA_ERR_CONFIG', `HTTP port ${port} on ${host} is in use by another process`)
          : err,
      ),
    );
    probe.listen({ host, port, exclusive: true }, () => {
      const { port: bound } = probe.address() as net.AddressInfo;
      probe.close(() => resolve(bound));
    });
  });
}
