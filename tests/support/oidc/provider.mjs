// A real OpenID Connect provider for Baryon's sign-in tests (tests/support/oidc_provider.py):
// the `oidc-provider` package on a free loopback port, with its own login form
// (devInteractions: any user name, any password) and test users whose groups claim says which
// teams they are in. Prints "issuer <url>" once it listens.
//
// Usage: node provider.mjs CLIENT_ID CLIENT_SECRET
import http from 'node:http';
import Provider from 'oidc-provider';

const [clientId, clientSecret] = process.argv.slice(2);

// The test users: the login name typed in the form is the account id.
const GROUPS = {
  dev: ['developers'],
  plat: ['platform-engineers', 'unmapped-group'],
  nobody: [],
};

const server = http.createServer();
server.listen(0, '127.0.0.1', () => {
  const issuer = `http://127.0.0.1:${server.address().port}`;
  const provider = new Provider(issuer, {
    clients: [{
      client_id: clientId,
      client_secret: clientSecret,
      // Replaced below: Baryon's port is not known when the provider starts.
      redirect_uris: ['http://127.0.0.1/portal/oidc/callback'],
      grant_types: ['authorization_code'],
      response_types: ['code'],
      id_token_signed_response_alg: 'RS256',
    }],
    claims: {
      openid: ['sub'],
      profile: ['name', 'preferred_username'],
      email: ['email'],
      groups: ['groups'],
    },
    scopes: ['openid', 'profile', 'email', 'groups'],
    // The claims go in the ID token, as Baryon reads them there.
    conformIdTokenClaims: false,
    pkce: { required: () => true },
    features: { devInteractions: { enabled: true } },
    async findAccount(ctx, id) {
      return {
        accountId: id,
        async claims() {
          return {
            sub: id,
            name: `Test ${id}`,
            preferred_username: id,
            email: `${id}@example.test`,
            groups: GROUPS[id] ?? [],
          };
        },
      };
    },
    // No consent screen: every scope asked for is granted.
    async loadExistingGrant(ctx) {
      const grant = new ctx.oidc.provider.Grant({
        clientId: ctx.oidc.client.clientId,
        accountId: ctx.oidc.session.accountId,
      });
      grant.addOIDCScope('openid profile email groups');
      await grant.save();
      return grant;
    },
  });
  // Any loopback callback of Baryon's portal is this client's redirect URI.
  provider.Client.prototype.redirectUriAllowed = (uri) =>
    /^http:\/\/127\.0\.0\.1:\d+\/portal\/oidc\/callback$/.test(uri);
  server.on('request', provider.callback());
  console.log(`issuer ${issuer}`);
});
