import {
  PASSWORD,
  addSecret,
  fillSignIn,
  signUp,
  createVault,
  expect,
  hydrated,
  open,
  screenshot,
  signedIn,
  test,
  totp,
} from './helpers';

test('a human creates a vault and a secret, grants an agent, and the agent reads it over REST', async ({
  page,
  request,
}) => {
  await signedIn(page, request);
  const vaultId = await createVault(page, 'production');
  await addSecret(page, 'api-keys/stripe', 'sk_live_e2e_4242');

  // The value is not in the page until "Reveal" is clicked.
  expect(await page.content()).not.toContain('sk_live_e2e_4242');
  await page.getByRole('button', { name: 'Reveal api-keys/stripe' }).click();
  await expect(page.getByTestId('secret-value')).toHaveText('sk_live_e2e_4242');

  // Register the agent: its key is shown once, with an MCP configuration.
  await open(page, '/agents', 'Agents');
  await page.getByLabel('Agent name').fill('deploy-bot');
  await page.getByRole('button', { name: 'Register agent' }).click();
  const key = (await page.getByTestId('one-time-value').textContent()) ?? '';
  expect(key).toMatch(/^ocv_/);
  await expect(page.getByTestId('mcp-config')).toContainText('ONECLAW_AGENT_API_KEY');
  await expect(page.locator('tr[data-name="deploy-bot"]')).toContainText('active');
  await screenshot(page, 'agents');

  // Grant the agent read on api-keys/** from the vault's page.
  await page.goto(`/vaults/${vaultId}`);
  await hydrated(page);
  await page.getByLabel('Principal').selectOption({ label: 'Agent · deploy-bot' });
  await page.getByLabel('Path pattern').fill('api-keys/**');
  await page.getByRole('button', { name: 'Grant access' }).click();
  await expect(page.getByTestId('policy-row')).toContainText('api-keys/**');
  await screenshot(page, 'vault');

  // The agent exchanges its key and reads the secret.
  const token = await request.post('/v1/auth/agent-token', { data: { api_key: key } });
  expect(token.status()).toBe(200);
  const { access_token } = await token.json();
  const read = await request.get(`/v1/vaults/${vaultId}/secrets/api-keys/stripe`, {
    headers: { Authorization: `Bearer ${access_token}` },
  });
  expect(read.status()).toBe(200);
  expect((await read.json()).value).toBe('sk_live_e2e_4242');

  // Deactivating the agent stops it.
  await open(page, '/agents', 'Agents');
  await page.getByRole('button', { name: 'Deactivate deploy-bot' }).click();
  await expect(page.locator('tr[data-name="deploy-bot"]')).toContainText('inactive');
  const refused = await request.post('/v1/auth/agent-token', { data: { api_key: key } });
  expect(refused.status()).toBe(401);

  await open(page, '/vaults', 'Vaults');
  await expect(page.getByRole('link', { name: 'production' })).toBeVisible();
  await screenshot(page, 'vaults');
});

test('a secret gets versions by rotation and is deleted after confirmation', async ({ page, request }) => {
  await signedIn(page, request);
  await createVault(page, 'rotation');
  await addSecret(page, 'db/password', 'first-value', 'password');

  await page.getByRole('button', { name: 'Rotate db/password' }).click();
  const row = page.locator('tr[data-path="db/password"]');
  await expect(row.locator('td').nth(2)).toHaveText('2');
  await page.getByRole('button', { name: 'Versions of db/password' }).click();
  await expect(page.getByTestId('versions').locator('li')).toHaveCount(2);
  await page.getByRole('button', { name: 'Reveal db/password' }).click();
  const rotated = (await page.getByTestId('secret-value').textContent()) ?? '';
  expect(rotated).toHaveLength(32);
  expect(rotated).not.toBe('first-value');

  await row.getByText('Delete', { exact: true }).click();
  await page.getByRole('button', { name: 'Confirm delete db/password' }).click();
  await expect(page.locator('tr[data-path="db/password"]')).toHaveCount(0);
  await expect(page.getByText('No secrets in this vault yet')).toBeVisible();
});

test('environment variables are added, revealed, edited and deleted on the vault tab', async ({
  page,
  request,
}) => {
  await signedIn(page, request);
  const vaultId = await createVault(page, 'envs');
  await page.getByRole('link', { name: 'Environment variables' }).click();
  await expect(page).toHaveURL(`/vaults/${vaultId}?tab=env`);
  await expect(page.getByText('No environment variables in this vault yet.')).toBeVisible();
  await hydrated(page);

  await page.getByLabel('Key').fill('DATABASE_URL');
  await page.getByLabel('Environments').fill('production, preview');
  await page.getByLabel('Variable value').fill('postgres://prod-e2e');
  await page.getByRole('button', { name: 'Save variable' }).click();
  const row = page.locator('tr[data-key="DATABASE_URL"]');
  await expect(row).toBeVisible();
  // One column per environment; development has no value.
  await expect(row.locator('td[data-environment="development"]')).toHaveText('—');
  await expect(row.locator('td[data-environment="production"]')).toContainText('v1');
  await screenshot(page, 'env-vars');

  await page.getByRole('button', { name: 'Reveal DATABASE_URL in preview' }).click();
  await expect(row.getByTestId('env-value')).toHaveText('postgres://prod-e2e');

  await row.locator('td[data-environment="production"]').getByText('Edit').click();
  await page.getByLabel('New value of DATABASE_URL in production').fill('postgres://prod-e2e-2');
  await page.getByRole('button', { name: 'Save DATABASE_URL in production' }).click();
  await expect(row.locator('td[data-environment="production"]')).toContainText('v2');
  await page.getByRole('button', { name: 'Reveal DATABASE_URL in production' }).click();
  await expect(row.locator('td[data-environment="production"]').getByTestId('env-value')).toHaveText(
    'postgres://prod-e2e-2',
  );

  await row.locator('td[data-environment="preview"]').getByText('Delete', { exact: true }).click();
  await page.getByRole('button', { name: 'Confirm delete DATABASE_URL in preview' }).click();
  await expect(row.locator('td[data-environment="preview"]')).toHaveText('—');
  await row.locator('td[data-environment="production"]').getByText('Delete', { exact: true }).click();
  await page.getByRole('button', { name: 'Confirm delete DATABASE_URL in production' }).click();
  await expect(page.getByText('No environment variables in this vault yet.')).toBeVisible();
});

test('a share link with a passphrase opens once over REST, then the share is revoked', async ({
  page,
  request,
}) => {
  await signedIn(page, request);
  await createVault(page, 'shared');
  await addSecret(page, 'partners/token', 'partner-token-77');

  await open(page, '/sharing', 'Sharing');
  await page.getByLabel('Secret', { exact: true }).selectOption({ label: 'shared / partners/token' });
  await page.getByLabel('Passphrase').fill('open sesame');
  await page.getByLabel('Maximum views').fill('2');
  await page.getByRole('button', { name: 'Create share' }).click();
  const url = (await page.getByTestId('one-time-value').textContent()) ?? '';
  expect(url).toContain('/v1/share/');
  const row = page.getByRole('region', { name: 'Shared by you' }).getByTestId('share-row');
  await expect(row).toContainText('partners/token');
  await expect(row).toContainText('active');

  const path = new URL(url).pathname;
  const wrong = await request.get(path, { data: { passphrase: 'wrong' } });
  expect(wrong.status()).toBe(403);
  const opened = await request.get(path, { data: { passphrase: 'open sesame' } });
  expect(opened.status()).toBe(200);
  expect((await opened.json()).value).toBe('partner-token-77');
  await screenshot(page, 'sharing');

  await page.reload();
  await hydrated(page);
  await row.getByText('Revoke', { exact: true }).click();
  await page.getByRole('button', { name: 'Confirm revoke' }).click();
  await expect(row).toContainText('revoked');
  const gone = await request.get(path, { data: { passphrase: 'open sesame' } });
  expect(gone.status()).toBe(404);
});

test('the audit log lists reads, verifies the chain, filters and exports JSON lines', async ({
  page,
  request,
}) => {
  await signedIn(page, request);
  await createVault(page, 'audited');
  await addSecret(page, 'svc/key', 'audited-value-1');
  await page.getByRole('button', { name: 'Reveal svc/key' }).click();
  await expect(page.getByTestId('secret-value')).toHaveText('audited-value-1');

  await open(page, '/audit', 'Audit Log');
  await page.getByRole('button', { name: 'Verify the whole chain' }).click();
  await expect(page.getByTestId('chain-status')).toContainText('Chain verified: all');
  await expect(page.getByTestId('event-row').first()).toBeVisible();
  await screenshot(page, 'audit');

  await page.getByLabel('Action').fill('secret.read');
  await page.getByRole('button', { name: 'Apply filters' }).click();
  await expect(page).toHaveURL(/action=secret.read/);
  const rows = page.getByTestId('event-row');
  await expect(rows).toHaveCount(1);
  await expect(rows.first()).toContainText('secret.read');

  const exported = await page.request.get('/audit/export.jsonl?action=secret.read');
  expect(exported.status()).toBe(200);
  const body = await exported.text();
  expect(body).not.toContain('audited-value-1');
  const lines = body.trim().split('\n').map((line) => JSON.parse(line));
  expect(lines).toHaveLength(1);
  expect(lines[0].action).toBe('secret.read');
  expect(lines[0].integrity_hash).toBeTruthy();
});

test('two-factor enrolment with the QR code, an IP rule, then sign-in with a recovery code', async ({
  page,
  request,
}) => {
  const email = await signedIn(page, request);
  await open(page, '/security', 'Security');
  await page.getByRole('button', { name: 'Set up two-factor authentication' }).click();
  await expect(page.getByRole('img', { name: 'QR code for your authenticator app' })).toBeVisible();
  const secret = (await page.getByTestId('totp-secret').textContent()) ?? '';
  expect(secret).toMatch(/^[A-Z2-7]+=*$/);
  await screenshot(page, 'security-mfa');
  await page.getByLabel('Code from the app').fill(totp(secret));
  await page.getByRole('button', { name: 'Turn on' }).click();
  await expect(page.getByTestId('recovery-codes').locator('li')).toHaveCount(8);
  const recovery = (await page.getByTestId('recovery-codes').locator('li').first().textContent()) ?? '';

  await page.reload();
  await expect(page.getByText('Two-factor authentication is on.')).toBeVisible();

  await page.getByLabel('Rule', { exact: true }).selectOption('deny');
  await page.getByLabel('IP or range').fill('203.0.113.0/24');
  await page.getByLabel('Label').fill('Office');
  await page.getByRole('button', { name: 'Add rule' }).click();
  await expect(page.getByTestId('ip-rule-row')).toContainText('203.0.113.0/24');
  await screenshot(page, 'security');

  // Signing in again asks for the second factor; a recovery code works once.
  await page.getByRole('button', { name: 'Sign out', exact: true }).click();
  await expect(page).toHaveURL('/login');
  await hydrated(page);
  await fillSignIn(page, email, PASSWORD);
  await page.getByLabel('Authentication code').fill('000000');
  await page.getByRole('button', { name: 'Verify' }).click();
  await expect(page.getByRole('alert')).toContainText('not valid');
  await page.getByLabel('Authentication code').fill(recovery);
  await page.getByRole('button', { name: 'Verify' }).click();
  await expect(page).toHaveURL('/');
  await expect(page.getByRole('heading', { level: 1, name: 'Dashboard' })).toBeVisible();
});

test('an API key is shown once, works with its scopes, and stops when revoked', async ({ page, request }) => {
  await signedIn(page, request);
  await open(page, '/api-keys', 'API Keys');
  await expect(page.getByText('No API keys yet')).toBeVisible();
  await page.getByLabel('Key name').fill('ci');
  await page.getByLabel('secrets:read').check();
  await page.getByRole('button', { name: 'Create key' }).click();
  const key = (await page.getByTestId('one-time-value').textContent()) ?? '';
  expect(key).toMatch(/^1ck_/);
  const row = page.getByTestId('api-key-row');
  await expect(row).toContainText('secrets:read');
  await screenshot(page, 'api-keys');

  const exchange = await request.post('/v1/auth/api-key-token', { data: { api_key: key } });
  expect(exchange.status()).toBe(200);

  await row.getByText('Revoke', { exact: true }).click();
  await page.getByRole('button', { name: 'Confirm revoke' }).click();
  await expect(row).toContainText('revoked');
  const refused = await request.post('/v1/auth/api-key-token', { data: { api_key: key } });
  expect(refused.status()).toBe(401);
});

test('the team page invites a member and lists the owner', async ({ page, request }) => {
  const email = await signedIn(page, request);
  await open(page, '/team', 'Team');
  await expect(page.getByTestId('member-row')).toContainText(email);
  await expect(page.getByTestId('member-row')).toContainText('owner');
  await page.getByLabel('Email address').fill('new-colleague@example.com');
  await page.getByLabel('Role').selectOption('admin');
  await page.getByRole('button', { name: 'Send invitation' }).click();
  await expect(page.getByRole('status')).toContainText('Invitation sent to new-colleague@example.com as admin');
  await screenshot(page, 'team');
});

test('the dashboard counts vaults and secrets and billing shows the plan', async ({ page, request }) => {
  await signedIn(page, request);
  await expect(page.getByText('Get started')).toBeVisible();
  await createVault(page, 'counted');
  await addSecret(page, 'a/b', 'value-ab');

  await open(page, '/', 'Dashboard');
  await expect(page.locator('dl')).toContainText('Vaults1');
  await expect(page.locator('dl')).toContainText('Secrets1');
  await expect(page.getByRole('region', { name: 'Recent activity' }).getByTestId('event-row').first()).toBeVisible();
  await screenshot(page, 'dashboard');

  await open(page, '/billing', 'Billing');
  await expect(page.getByTestId('plan')).toContainText('enterprise');
  await expect(page.getByRole('progressbar', { name: 'Vaults' })).toHaveAttribute('aria-valuenow', '1');
  await screenshot(page, 'billing');
});

test('a state-changing dashboard call from another origin is refused', async ({ page, request }) => {
  await signedIn(page, request);
  const forged = await page.request.post('/ui/vaults/create', {
    headers: { Origin: 'http://evil.example', 'Content-Type': 'application/x-www-form-urlencoded' },
    data: 'name=forged&description=',
  });
  expect(forged.status()).toBe(403);
  const same = await page.request.post('/ui/vaults/create', {
    headers: {
      Origin: new URL(page.url()).origin,
      'Content-Type': 'application/x-www-form-urlencoded',
    },
    data: 'name=legit&description=',
  });
  expect(same.status()).toBe(200);
  await open(page, '/vaults', 'Vaults');
  await expect(page.getByRole('link', { name: 'legit' })).toBeVisible();
  await expect(page.getByRole('link', { name: 'forged' })).toHaveCount(0);
});

test.describe('without JavaScript', () => {
  test.use({ javaScriptEnabled: false });

  test('vaults are created and listed with plain form posts', async ({ page, request }) => {
    const email = await signUp(request);
    await page.goto('/login');
    await fillSignIn(page, email, PASSWORD);
    await expect(page).toHaveURL('/');
    await page.goto('/vaults');
    await page.getByLabel('Vault name').fill('no-js');
    await page.getByRole('button', { name: 'Create vault' }).click();
    await expect(page).toHaveURL('/vaults');
    await page.getByRole('link', { name: 'no-js' }).click();
    await page.getByLabel('Path', { exact: true }).fill('plain/form');
    await page.getByLabel('Value', { exact: true }).fill('posted-without-js');
    await page.getByRole('button', { name: 'Save secret' }).click();
    await expect(page.locator('tr[data-path="plain/form"]')).toBeVisible();
  });
});

test('a CLI device login is approved on /cli/verify and the CLI then gets its token', async ({ page, request }) => {
  await signedIn(page, request);
  const started = await request.post('/v1/auth/device/code', { data: { client_id: 'talon-cli' } });
  expect(started.status()).toBe(200);
  const { device_code, user_code } = await started.json();
  const info = await request.get(`/v1/auth/device/code/${user_code}`);
  expect((await info.json()).status).toBe('pending');

  await open(page, `/cli/verify?code=${user_code}`, 'Approve a sign-in');
  await expect(page.getByTestId('user-code')).toHaveText(user_code);
  await page.getByRole('button', { name: 'Approve' }).click();
  await expect(page.getByText('approved', { exact: true })).toBeVisible();
  await screenshot(page, 'cli-verify');

  const granted = await request.post('/v1/auth/device/token', {
    data: { device_code, client_id: 'talon-cli', grant_type: 'urn:ietf:params:oauth:grant-type:device_code' },
  });
  expect(granted.status()).toBe(200);
  expect((await granted.json()).access_token).toBeTruthy();
});
