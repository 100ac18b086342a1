// A minimal OpenID Connect provider for the end-to-end suite: the authorization
// endpoint signs the user in at once (as the email given by `login_hint`, or a
// fixed test user), the token endpoint checks the PKCE verifier, the client
// secret and the redirect URI, and answers an RS256 ID token that the JWKS
// endpoint publishes the key of. Talon verifies that token as it would
// Google's.
//
//   node oidc-provider.mjs <port> <client_id> <client_secret>
import { createHash, createSign, generateKeyPairSync, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';

const [port, clientId, clientSecret] = process.argv.slice(2);
const issuer = `http://127.0.0.1:${port}`;
const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const jwk = { ...publicKey.export({ format: 'jwk' }), kid: 'e2e-key', alg: 'RS256', use: 'sig' };
const codes = new Map(); // code -> { challenge, redirectUri, email }

const b64url = (data) => Buffer.from(data).toString('base64url');

function idToken(email) {
  const now = Math.floor(Date.now() / 1000);
  const header = b64url(JSON.stringify({ alg: 'RS256', typ: 'JWT', kid: jwk.kid }));
  const claims = b64url(
    JSON.stringify({
      iss: issuer,
      aud: clientId,
      sub: createHash('sha256').update(email).digest('hex').slice(0, 20),
      email,
      email_verified: true,
      name: 'Google User',
      iat: now,
      exp: now + 300,
    }),
  );
  const signature = createSign('RSA-SHA256').update(`${header}.${claims}`).sign(privateKey);
  return `${header}.${claims}.${b64url(signature)}`;
}

function send(res, status, body) {
  res.writeHead(status, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify(body));
}

createServer((req, res) => {
  const url = new URL(req.url, issuer);
  if (req.method === 'GET' && url.pathname === '/jwks') {
    return send(res, 200, { keys: [jwk] });
  }
  if (req.method === 'GET' && url.pathname === '/authorize') {
    const q = url.searchParams;
    if (q.get('client_id') !== clientId || q.get('response_type') !== 'code') {
      return send(res, 400, { error: 'invalid_request' });
    }
    if (q.get('code_challenge_method') !== 'S256' || !q.get('code_challenge') || !q.get('state')) {
      return send(res, 400, { error: 'invalid_request', error_description: 'PKCE and state required' });
    }
    const code = randomBytes(16).toString('hex');
    codes.set(code, {
      challenge: q.get('code_challenge'),
      redirectUri: q.get('redirect_uri'),
      email: q.get('login_hint') || 'google-user@example.com',
    });
    const back = new URL(q.get('redirect_uri'));
    back.searchParams.set('code', code);
    back.searchParams.set('state', q.get('state'));
    res.writeHead(302, { Location: back.toString() });
    return res.end();
  }
  if (req.method === 'POST' && url.pathname === '/token') {
    let body = '';
    req.on('data', (chunk) => (body += chunk));
    req.on('end', () => {
      const form = new URLSearchParams(body);
      const basic = (req.headers.authorization || '').replace(/^Basic /, '');
      const [id, secret] = Buffer.from(basic, 'base64').toString().split(':').map(decodeURIComponent);
      const grant = codes.get(form.get('code'));
      codes.delete(form.get('code'));
      const verifier = form.get('code_verifier') || '';
      if (id !== clientId || secret !== clientSecret) return send(res, 401, { error: 'invalid_client' });
      if (!grant || grant.redirectUri !== form.get('redirect_uri')) return send(res, 400, { error: 'invalid_grant' });
      if (b64url(createHash('sha256').update(verifier).digest()) !== grant.challenge) {
        return send(res, 400, { error: 'invalid_grant', error_description: 'PKCE verifier mismatch' });
      }
      return send(res, 200, {
        access_token: randomBytes(16).toString('hex'),
        token_type: 'Bearer',
        expires_in: 300,
        id_token: idToken(grant.email),
      });
    });
    return;
  }
  send(res, 404, { error: 'not_found' });
}).listen(Number(port), '127.0.0.1', () => console.log(`OIDC provider on ${issuer}`));
