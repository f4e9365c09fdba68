// Container health: /healthz of this node answers 200 (503 when its database is unreachable).
// MEDGATE_HEALTH_URL overrides the address (tests run it outside Docker).
const url = process.env.MEDGATE_HEALTH_URL ?? 'http://127.0.0.1:8080/healthz';
try {
  const res = await fetch(url, { signal: AbortSignal.timeout(4000) });
  const body = await res.text();
  if (!res.ok) console.error(`unhealthy: ${res.status} ${body}`);
  process.exit(res.ok ? 0 : 1);
} catch (err) {
  console.error(`unhealthy: ${err.message}`);
  process.exit(1);
}
