/**
 * The peer of `npm run bench:api`: Fastify with @fastify/jwt serving
 * GET /api/v1/streams/:id as nova does it: verify an RS256 bearer token
 * (nova's own, with the public key of nova's JWKS; issuer and audience
 * checked), read the stream row from the same PostgreSQL, answer JSON.
 * Run as its own process; prints {"port"} on stdout once listening.
 *
 *   PEER_DATABASE_URL=postgres://… PEER_PUBLIC_KEY_PEM=… PEER_ISSUER=https://… node --import tsx loadtest/peers/fastify-jwt-peer.ts
 */
import fastifyJwt from '@fastify/jwt';
import Fastify from 'fastify';
import pg from 'pg';

const databaseUrl = process.env.PEER_DATABASE_URL!;
const publicKey = process.env.PEER_PUBLIC_KEY_PEM!;
const issuer = process.env.PEER_ISSUER!;

const pool = new pg.Pool({ connectionString: databaseUrl, max: 10 });
const app = Fastify({ logger: false });
await app.register(fastifyJwt, {
  secret: { public: publicKey, private: 'unused: this peer only verifies' },
  verify: { algorithms: ['RS256'], allowedIss: issuer, allowedAud: 'nova-api' },
});

app.get<{ Params: { id: string } }>('/api/v1/streams/:id', async (request, reply) => {
  try {
    await request.jwtVerify();
  } catch {
    return reply.code(401).send({ error: { code: 'NOVA_ERR_UNAUTHORIZED', message: 'invalid token' } });
  }
  const { rows } = await pool.query('SELECT * FROM streams WHERE id = $1', [request.params.id]);
  const row = rows[0] as Record<string, unknown> | undefined;
  if (!row) return reply.code(404).send({ error: { code: 'NOVA_ERR_NOT_FOUND', message: 'no stream' } });
  return {
    id: row.id,
    title: row.title,
    status: row.status,
    private: row.private,
    owner_client_id: row.owner_client_id,
    created_at: (row.created_at as Date).toISOString(),
    started_at: null,
    ended_at: null,
    end_reason: row.end_reason,
    viewers: 0,
    peak_viewers: row.peak_viewers,
    renditions: row.current_renditions,
    warnings: [],
  };
});

const address = await app.listen({ host: '127.0.0.1', port: 0 });
process.stdout.write(JSON.stringify({ port: Number(new URL(address).port) }) + '\n');
process.on('SIGTERM', () => void app.close().then(() => pool.end()).then(() => process.exit(0)));
