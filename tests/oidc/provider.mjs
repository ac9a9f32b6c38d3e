// OpenID providers for the sign-in tests, on a free loopback port.
//
//   node provider.mjs real     the real, OpenID-certified `oidc-provider`, with its own login
//                              and consent pages, a confidential client `onetime` and three
//                              people: ann@example.com (verified, group "staff"),
//                              bob@elsewhere.test (verified, another domain) and cy@example.com
//                              (email_verified = false). Log in as "ann", "bob" or "cy" with
//                              any password.
//   node provider.mjs hostile  a stand-in that answers like a provider but signs what a test
//                              asks for: POST /mode?m=MODE chooses the next ID token (ok,
//                              wrong-nonce, wrong-aud, expired, other-key, rotated,
//                              unverified, other-domain). Codes are single use.
//
// Both print `port N` once listening. The real one then reads the client's redirect URI from
// the first line of standard input (the server under test starts after the provider) and
// prints `ready`. Both exit when standard input closes.

import http from 'node:http';
import crypto from 'node:crypto';
import readline from 'node:readline';

const mode = process.argv[2];
const CLIENT_ID = 'onetime';
export const CLIENT_SECRET = 'onetime-test-client-secret';

const people = {
  ann: { email: 'ann@example.com', email_verified: true, groups: ['staff'], name: 'Ann' },
  bob: { email: 'bob@elsewhere.test', email_verified: true, groups: ['staff'], name: 'Bob' },
  cy: { email: 'cy@example.com', email_verified: false, groups: ['staff'], name: 'Cy' },
};

let handler = (req, res) => {
  res.statusCode = 503;
  res.end('not ready');
};
const server = http.createServer((req, res) => handler(req, res));
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address();
  const issuer = `http://127.0.0.1:${port}`;
  console.log(`port ${port}`);
  const input = readline.createInterface({ input: process.stdin });
  input.on('close', () => process.exit(0));
  if (mode === 'hostile') {
    handler = hostile(issuer);
  } else {
    input.once('line', async (redirectUri) => {
      handler = await real(issuer, redirectUri.trim());
      console.log('ready');
    });
  }
});

function rsaKey(kid) {
  const { privateKey, publicKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = { ...publicKey.export({ format: 'jwk' }), kid, alg: 'RS256', use: 'sig' };
  const privateJwk = { ...privateKey.export({ format: 'jwk' }), kid, alg: 'RS256', use: 'sig' };
  return { privateKey, jwk, privateJwk };
}

async function real(issuer, redirectUri) {
  const { default: Provider } = await import('oidc-provider');
  const key = rsaKey('real-1');
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: CLIENT_ID,
        client_secret: CLIENT_SECRET,
        redirect_uris: [redirectUri],
        response_types: ['code'],
        grant_types: ['authorization_code'],
        token_endpoint_auth_method: 'client_secret_basic',
      },
    ],
    jwks: { keys: [key.privateJwk] },
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['name'],
      groups: ['groups'],
    },
    // Claims asked for by scope go into the ID token itself.
    conformIdTokenClaims: false,
    features: { devInteractions: { enabled: true } },
    cookies: { keys: [crypto.randomBytes(32).toString('hex')] },
    async findAccount(_ctx, sub) {
      const person = people[sub];
      if (!person) return undefined;
      return { accountId: sub, claims: async () => ({ sub, ...person }) };
    },
  });
  return provider.callback();
}

function b64url(value) {
  return Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');
}

function hostile(issuer) {
  const good = rsaKey('good-1');
  const other = rsaKey('other-1');
  const rotated = rsaKey('rotated-1');
  let published = [good.jwk];
  let next = 'ok';
  const codes = new Map();

  function sign(key, claims) {
    const head = b64url({ alg: 'RS256', kid: key.jwk.kid, typ: 'JWT' });
    const body = b64url(claims);
    const signature = crypto.sign('sha256', Buffer.from(`${head}.${body}`), key.privateKey);
    return `${head}.${body}.${signature.toString('base64url')}`;
  }

  function idToken(grant) {
    const now = Math.floor(Date.now() / 1000);
    const claims = {
      iss: issuer,
      sub: 'ann',
      aud: CLIENT_ID,
      iat: now,
      exp: now + 300,
      nonce: grant.nonce,
      email: 'ann@example.com',
      email_verified: true,
      groups: ['staff'],
    };
    let key = good;
    switch (grant.mode) {
      case 'wrong-nonce': claims.nonce = crypto.randomBytes(16).toString('base64url'); break;
      case 'wrong-aud': claims.aud = 'some-other-client'; break;
      case 'expired': claims.iat = now - 3600; claims.exp = now - 1800; break;
      case 'other-key': key = other; break;
      case 'rotated': key = rotated; break;
      case 'unverified': claims.email_verified = false; break;
      case 'other-domain': claims.email = 'ann@elsewhere.test'; break;
      default: break;
    }
    return sign(key, claims);
  }

  function json(res, status, body) {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  }

  return (req, res) => {
    const url = new URL(req.url, issuer);
    if (url.pathname === '/.well-known/openid-configuration') {
      return json(res, 200, {
        issuer,
        authorization_endpoint: `${issuer}/auth`,
        token_endpoint: `${issuer}/token`,
        jwks_uri: `${issuer}/jwks`,
        response_types_supported: ['code'],
        subject_types_supported: ['public'],
        id_token_signing_alg_values_supported: ['RS256'],
      });
    }
    if (url.pathname === '/jwks') return json(res, 200, { keys: published });
    if (url.pathname === '/mode' && req.method === 'POST') {
      next = url.searchParams.get('m') || 'ok';
      if (next === 'rotated') published = [good.jwk, rotated.jwk];
      return json(res, 200, { mode: next });
    }
    if (url.pathname === '/auth') {
      const code = crypto.randomBytes(16).toString('base64url');
      codes.set(code, { nonce: url.searchParams.get('nonce'), mode: next });
      const back = new URL(url.searchParams.get('redirect_uri'));
      back.searchParams.set('code', code);
      back.searchParams.set('state', url.searchParams.get('state'));
      res.writeHead(302, { location: back.toString() });
      return res.end();
    }
    if (url.pathname === '/token' && req.method === 'POST') {
      let body = '';
      req.on('data', (chunk) => { body += chunk; });
      req.on('end', () => {
        const code = new URLSearchParams(body).get('code');
        const grant = codes.get(code);
        // Single use, as a real provider's codes are.
        codes.delete(code);
        if (!grant) return json(res, 400, { error: 'invalid_grant' });
        return json(res, 200, {
          access_token: crypto.randomBytes(16).toString('base64url'),
          token_type: 'Bearer',
          expires_in: 300,
          id_token: idToken(grant),
        });
      });
      return undefined;
    }
    res.statusCode = 404;
    return res.end();
  };
}
