import { breakdown, type FleetRun, type FleetSection, PROJECTED } from './fleet';

const fixed = (value: number, digits = 2) => (Number.isFinite(value) ? value.toFixed(digits) : 'n/a');
const int = (value: number) => (Number.isFinite(value) ? Math.round(value).toLocaleString('en-US') : 'n/a');
const pct = (value: number) => `${fixed(value * 100, 1)}%`;
/** `count / of = ratio`, so that one variant made twice in a thousand shows. */
const ratio = (count: number, of: number) => `${int(count)} / ${int(of)} = ${fixed(count / of, 3)}`;

/** The figures of one run, per request and per instance, that the projection scales. */
function per(run: FleetRun, instances: number) {
  return {
    commandsPerRequest: run.redisCommands / run.requests,
    publishesPerRequest: run.publishes / run.requests,
    deliveriesPerPublish: run.publishes ? run.deliveries / run.publishes : NaN,
    deliveriesPerRequest: run.deliveries / run.requests,
    connectionsPerInstance: run.connections / instances,
    subscriptionsPerInstance: run.subscriptions / instances,
    /** Commands per request with the extra hot-tier fills of 100 instances (one GET each). */
    projectedCommandsPerRequest: (run.redisCommands + run.fillsProjected - run.fills) / run.requests,
  };
}

function projection(f: FleetSection): string {
  const n = f.instances;
  const k = PROJECTED / n;
  const [one, cluster] = [f.runs[0], f.runs[1]];
  const cell = (run: FleetRun | undefined, show: (run: FleetRun) => string) => (run ? show(run) : 'n/a');
  const rows: Array<[string, string, (run: FleetRun) => string, string]> = [
    [
      'origin fetches per logo',
      'no',
      (r) => `${fixed(r.originFetches / r.distinctLogos, 3)} → 1`,
      'one lock per variant for the whole fleet: one instance fetches and resizes, the others wait for its result',
    ],
    ['resizes per variant', 'no', (r) => `${fixed(r.resizes / r.distinctLogos, 3)} → 1`, 'as above'],
    [
      'PUBLISH per request',
      'no',
      (r) => `${fixed(per(r, n).publishesPerRequest, 4)} → ${fixed(per(r, n).publishesPerRequest, 4)}`,
      `a wake-up when a miss that others wait for is stored, and an announcement per replacement or purge (an ordinary store is not announced): ${one ? `${int(one.publishes)} / ${int(one.requests)}` : 'P / R'}`,
    ],
    [
      'pub/sub deliveries per PUBLISH',
      'yes, ∝ instances',
      (r) => `${fixed(per(r, n).deliveriesPerPublish, 1)} → ${fixed(per(r, n).deliveriesPerPublish * k, 1)}`,
      `every instance's subscription receives every announcement: ${one ? `${int(one.deliveries)} / ${int(one.publishes)}` : 'D / P'} (${n} instances) × ${PROJECTED}/${n}`,
    ],
    [
      'pub/sub deliveries per request',
      'yes, ∝ instances',
      (r) => `${fixed(per(r, n).deliveriesPerRequest, 3)} → ${fixed(per(r, n).deliveriesPerRequest * k, 3)}`,
      `PUBLISH per request × deliveries per PUBLISH; this run's ${one ? `${int(one.publishes)} PUBLISH would make ${int(one.publishes)} × ${PROJECTED} = ${int(one.publishes * PROJECTED)}` : `P PUBLISH would make P × ${PROJECTED}`} deliveries`,
    ],
    [
      'Redis connections (pub/sub subscriptions)',
      'yes, ∝ instances',
      (r) =>
        `${int(r.connections)} (${int(r.subscriptions)}) → ${int(per(r, n).connectionsPerInstance * PROJECTED)} (${int(per(r, n).subscriptionsPerInstance * PROJECTED)})`,
      `connections (subscriptions) per instance at the end of the run × ${PROJECTED}: ${one ? `${fixed(per(one, n).connectionsPerInstance, 1)} (${fixed(per(one, n).subscriptionsPerInstance, 1)})` : 'C/8'} on one Redis${cluster ? `, ${fixed(per(cluster, n).connectionsPerInstance, 1)} (${fixed(per(cluster, n).subscriptionsPerInstance, 1)}) on the Cluster` : ''}`,
    ],
    [
      'Redis commands per request',
      'a little: hot-tier fills',
      (r) => `${fixed(per(r, n).commandsPerRequest, 3)} → ${fixed(per(r, n).projectedCommandsPerRequest, 3)}`,
      `an instance reads a logo from Redis the first time it serves it (again after \`hotCache.maxAgeMs\`); the same ${one ? int(one.requests) : 'R'} requests round-robin make ${one ? `${int(one.fills)} (instance, logo) pairs over ${n} instances, ${int(one.fillsProjected)} over ${PROJECTED}` : 'F8 and F100 pairs'}: (commands + ${one ? `${int(one.fillsProjected)} − ${int(one.fills)}` : 'F100 − F8'} GETs) / requests`,
    ],
    [
      'Redis commands/s',
      'with requests/s, not instances',
      (r) =>
        `${int(r.redisCommands / r.seconds)} → ${int(r.rps * PROJECTED * per(r, n).projectedCommandsPerRequest)}`,
      `requests/s × commands per request, for this run's mix (its cold start included); projected: each of the ${PROJECTED} instances on a core of its own, serving what the ${n} here served together on one (${one ? `${int(one.rps)} req/s × ${PROJECTED} × ${fixed(per(one, n).projectedCommandsPerRequest, 3)}` : 'rps × 100 × c'})`,
    ],
  ];
  return `### What ${PROJECTED} instances would change

Scaled from the runs above (arithmetic on the one-Redis run; the Cluster column is the same arithmetic on its run).

| figure | grows with instances | one Redis: ${n} measured → ${PROJECTED} | Cluster: ${n} measured → ${PROJECTED} | arithmetic |
|---|---|---:|---:|---|
${rows.map(([name, grows, show, how]) => `| ${name} | ${grows} | ${cell(one, show)} | ${cell(cluster, show)} | ${how} |`).join('\n')}

What does not grow with the instances: the work per variant (one origin fetch, one resize, one store,
and one PUBLISH only when other instances wait for it, however many instances ask for it at once) and what a hit costs Redis (nothing
when the instance's hot tier holds the logo, else one GET). What grows: connections and subscriptions, one set per instance;
hot-tier fills, since each instance reads from Redis every logo it serves (once per
\`hotCache.maxAgeMs\`); and pub/sub deliveries, since every PUBLISH reaches every instance: ${fixed(k, 1)} times
as many per stored variant at ${PROJECTED} instances. Deliveries per second are stored variants per second ×
instances: when a fleet grows with its traffic, both factors grow, so at a given share of misses they
grow with the square of the fleet. On a Cluster, a PUBLISH is moreover relayed by the cluster bus to
every master, whichever nodes its subscribers are connected to.
`;
}

/** The fleet section of bench/results/latest.md. */
export function renderFleet(f: FleetSection): string {
  const row = (r: FleetRun) =>
    `| ${r.topology} | ${int(r.rps)} | ${fixed(r.p50Ms, 1)} | ${fixed(r.p99Ms, 1)} (${fixed(r.hitP99Ms, 1)}) | ${pct(r.hitRatio)} | ${ratio(r.originFetches, r.distinctLogos)}, max ${r.originMaxPerLogo} | ${ratio(r.resizes, r.distinctLogos)} | ${int(r.redisCommands / r.seconds)} (${fixed(r.redisCommands / r.requests, 3)}) | ${fixed(r.publishes / r.requests, 4)} / ${fixed(r.deliveries / r.requests, 3)} | ${r.waited} | ${r.failed} |`;
  return `## (i) A fleet: ${f.instances} instances, ${f.logos} logos, Zipf-distributed requests

${f.instances} instances of the library (bench/servers/fleet-instance.ts: Nest on Express, one
\`@ResizedImage()\` route, a 64x64 PNG of a logo fetched from the origin, \`concurrency: 1\`, the hot tier
on), each a process of its own, all on the server core, share one Redis, then a 3-master Redis Cluster
(no replicas; Redis and the origin on the client core). The origin serves ${f.logos} distinct logos (160 px
PNGs of a few KB). ${int(f.requests)} requests, ${f.concurrency} at a time over keep-alive connections, round-robin
over the instances; their logos drawn from a Zipf distribution (s = ${f.zipf}) over the ${f.logos}, from a
fixed seed, so both runs request the same logos in the same order. Every run starts with an empty
cache. Library: ${f.library}.

Hit ratio: answers with \`X-Cache: HIT\` (a request that waited for another instance's miss is a HIT).
The p99 of all answers is that of the misses: 8 instances share one core, one resize at a time each.
Origin fetches and resizes per logo: the origin's count and the instances' \`resized\` events over the
logos requested (one variant each). Redis commands: INFO commandstats of every node, reset before the
run, summed (commands run by Lua scripts included). PUBLISH: PUBLISH and SPUBLISH calls; deliveries:
the pub/sub messages the instances' Redis connections received, counted in the instances. Waited:
requests that waited for a miss being made by another instance.

| Redis | req/s | p50 ms | p99 ms (hits alone) | hit ratio | origin fetches per logo | resizes per variant | Redis commands/s (per request) | pub/sub per request: PUBLISH / deliveries | waited | failed |
|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|
${f.runs.map(row).join('\n')}

${f.runs.map((r) => `Redis commands per request, ${r.topology}: ${breakdown(r)}. At the end: ${r.connections} connections to Redis, ${r.pubsubConnections} in pub/sub mode with ${r.subscriptions} subscriptions; ${r.distinctLogos} logos requested.`).join('\n\n')}

${projection(f)}
The section took ${f.seconds.toFixed(1)} s.
`;
}
