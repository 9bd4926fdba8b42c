import { connect, createServer, type Server, type Socket } from "node:net";

/** A loopback FTP proxy that cuts every data connection after `cutAfter` bytes. */
export interface CuttingProxy {
  readonly port: number;
  /** Data connections cut so far. */
  readonly cuts: () => number;
  close(): Promise<void>;
}

/**
 * Proxy the control connection to 127.0.0.1:`serverPort` and, for each EPSV reply, open a
 * data relay whose port replaces the server's. A relay destroys both of its sockets once
 * `cutAfter` bytes went through: a network cut in the middle of a transfer.
 */
export async function startCuttingProxy(serverPort: number, cutAfter: number): Promise<CuttingProxy> {
  const sockets = new Set<Socket>();
  const servers = new Set<Server>();
  let cuts = 0;
  const track = (s: Socket): Socket => {
    sockets.add(s);
    s.on("error", () => undefined);
    s.on("close", () => sockets.delete(s));
    return s;
  };

  function relayData(targetPort: number): Promise<number> {
    return new Promise((resolve) => {
      const srv = createServer((client) => {
        srv.close();
        track(client);
        const upstream = track(connect({ host: "127.0.0.1", port: targetPort }));
        let moved = 0;
        const pump = (from: Socket, to: Socket): void => {
          from.on("data", (chunk: Buffer) => {
            if (moved >= cutAfter) return;
            moved += chunk.length;
            to.write(moved > cutAfter ? chunk.subarray(0, chunk.length - (moved - cutAfter)) : chunk);
            if (moved >= cutAfter) {
              cuts++;
              // let the partial bytes reach the peer, then cut both ends
              to.end(() => {
                client.destroy();
                upstream.destroy();
              });
            }
          });
          from.on("end", () => {
            if (moved < cutAfter) to.end();
          });
        };
        pump(client, upstream);
        pump(upstream, client);
      });
      servers.add(srv);
      srv.listen(0, "127.0.0.1", () => resolve((srv.address() as { port: number }).port));
    });
  }

  const proxy = createServer((client) => {
    track(client);
    const upstream = track(connect({ host: "127.0.0.1", port: serverPort }));
    client.pipe(upstream);
    let pending = "";
    let chain = Promise.resolve();
    upstream.setEncoding("utf8");
    upstream.on("data", (text: string) => {
      pending += text;
      let nl: number;
      while ((nl = pending.indexOf("\n")) >= 0) {
        const line = pending.slice(0, nl + 1);
        pending = pending.slice(nl + 1);
        chain = chain.then(async () => {
          const m = /^229 (.*)\(\|\|\|(\d+)\|\)/.exec(line);
          if (!m) return void client.write(line);
          const port = await relayData(Number(m[2]));
          client.write(`229 ${m[1]}(|||${port}|)\r\n`);
        });
      }
    });
    upstream.on("end", () => void chain.then(() => client.end()));
    client.on("close", () => upstream.destroy());
  });
  await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", () => resolve()));
  return {
    port: (proxy.address() as { port: number }).port,
    cuts: () => cuts,
    close: async () => {
      for (const s of sockets) s.destroy();
      for (const s of servers) s.close();
      await new Promise((r) => proxy.close(r));
    },
  };
}
