import net from 'node:net';

/** A client connected to the Unix socket at `path`. */
export function connected(path: string): Promise<net.Socket> {
  return new Promise((done, fail) => {
    const client = net.connect(path, () => done(client));
    client.once('error', fail);
  });
}
