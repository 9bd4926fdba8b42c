// A "node" in its own process for the slots tests: takes `count` slots of `remote` (cap `cap`),
// prints "held <n>" and waits to be killed.
import { PgSlots } from "../../src/fleet/index.js";

const [url, remote, cap, count] = process.argv.slice(2);
const slots = await PgSlots.open({ connection: { connectionString: url! } });
for (let i = 0; i < Number(count); i++) await slots.acquire(remote!, Number(cap));
process.stdout.write(`held ${slots.held()[0]?.held ?? 0}\n`);
setInterval(() => undefined, 60_000);
