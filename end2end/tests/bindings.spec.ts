import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { APIRequestContext } from '@playwright/test';
import { test, expect, signedIn, open, screenshot, createVault, addSecret, hydrated } from './helpers';

// Needs the server started with TALON_ALLOW_PRIVATE_EGRESS=true (as `scripts/talon-dev test`
// does), since the upstream below listens on plain http on 127.0.0.1.

type Received = { method: string; url: string; headers: IncomingHttpHeaders };

/** A local upstream that records every request and answers 200 with a small JSON body. */
async function upstream(): Promise<{ url: string; seen: Received[]; server: Server }> {
  const seen: Received[] = [];
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, seen, server };
}

/** The agent executes `GET /` through its binding `name` over REST; returns the response. */
async function execute(request: APIRequestContext, agentId: string, token: string, name: string) {
  return request.post(`/v1/agents/${agentId}/execute`, {
    headers: { Authorization: `Bearer ${token}` },
    data: { binding: name, intent_type: 'http', params: { path: '/' } },
  });
}

test('an agent page creates, tests, toggles and rotates a binding without showing its credential', async ({
  page,
  request,
}) => {
  const SECRET = 'sk_upstream_e2e_7f3a91';
  const INLINE = 'inline_e2e_c0ffee42';
  const up = await upstream();
  try {
    await signedIn(page, request);
    const vaultId = await createVault(page, 'brokered');
    await addSecret(page, 'api-keys/upstream', SECRET);

    // An agent, granted only `use` on the secret.
    await open(page, '/agents', 'Agents');
    await page.getByLabel('Agent name').fill('broker-bot');
    await page.getByRole('button', { name: 'Register agent' }).click();
    const key = ((await page.getByTestId('one-time-value').textContent()) ?? '').trim();
    expect(key).toMatch(/^ocv_/);
    await page.goto(`/vaults/${vaultId}`);
    await hydrated(page);
    await expect(page.getByText('use: the agent can have the secret injected')).toBeVisible();
    await page.getByLabel('Principal').selectOption({ label: 'Agent · broker-bot' });
    await page.getByLabel('Path pattern').fill('api-keys/**');
    await page.getByLabel('read', { exact: true }).uncheck();
    await page.getByLabel('use', { exact: true }).check();
    await page.getByRole('button', { name: 'Grant access' }).click();
    await expect(page.getByTestId('policy-row')).toContainText('use');

    // The agent's page, from its name in the list.
    await open(page, '/agents', 'Agents');
    await page.getByRole('link', { name: 'broker-bot' }).click();
    await expect(page.getByRole('heading', { level: 1, name: 'broker-bot' })).toBeVisible();
    await hydrated(page);
    const agentId = page.url().split('/agents/')[1];
    expect(agentId).toMatch(/^[0-9a-f-]{36}$/);
    await expect(page.getByTestId('agent-summary')).toContainText('active');
    await expect(page.getByTestId('agent-summary')).toContainText(key.slice(0, 8));
    const bindings = page.getByRole('region', { name: 'Bindings' });
    await expect(bindings).toContainText('No bindings yet');
    await expect(page.getByRole('region', { name: 'Last executions' })).toContainText('No executions yet');

    // A binding whose credential is the vault secret.
    const form = page.getByRole('region', { name: 'New binding' });
    await form.getByLabel('Binding name').fill('upstream');
    await form.getByLabel('Type', { exact: true }).selectOption('http');
    await form.getByLabel('Base URL').fill(up.url);
    await form.getByLabel('Credential goes in').selectOption('bearer');
    await form.getByLabel('Credential source').selectOption('vault_ref');
    await form.getByLabel('Vault', { exact: true }).selectOption({ label: 'brokered' });
    await form.getByLabel('Secret path').fill('api-keys/upstream');
    await form.getByLabel('Allowed methods').fill('GET, POST');
    await form.getByLabel('Max requests per minute').fill('30');
    await form.getByRole('button', { name: 'Create binding' }).click();
    const row = page.locator('tr[data-testid="binding-row"][data-name="upstream"]');
    await expect(row).toBeVisible();
    await expect(row.getByTestId('binding-credential')).toHaveText('vault: brokered/api-keys/upstream');
    await expect(row).toContainText(up.url);
    await expect(row).toContainText('Authorization: Bearer');
    await expect(row).toContainText('GET, POST');
    await expect(row).toContainText('30 per minute');
    await expect(row.getByTestId('binding-state')).toHaveText('active');

    // The core's refusal shows on the form: a second binding of the same name.
    await form.getByLabel('Binding name').fill('upstream');
    await form.getByLabel('Base URL').fill(up.url);
    await form.getByLabel('Credential source').selectOption('none');
    await form.getByRole('button', { name: 'Create binding' }).click();
    await expect(form.getByRole('alert')).toContainText('already has a binding named upstream');

    // Test: the upstream answers (the test sends no credential).
    await row.getByRole('button', { name: 'Test upstream' }).click();
    await expect(page.getByTestId('binding-test-result')).toContainText(/Test of upstream: the upstream answered in \d+ ms/);
    expect(up.seen).toHaveLength(1);
    expect(up.seen[0].headers.authorization).toBeUndefined();

    // The agent executes through it; the upstream gets the vault secret, the agent does not.
    const issued = await request.post('/v1/auth/agent-token', { data: { api_key: key } });
    expect(issued.status()).toBe(200);
    const { access_token } = await issued.json();
    const first = await execute(request, agentId, access_token, 'upstream');
    expect(first.status(), await first.text()).toBe(200);
    expect(await first.text()).not.toContain(SECRET);
    expect(up.seen).toHaveLength(2);
    expect(up.seen[1].headers.authorization).toBe(`Bearer ${SECRET}`);

    await page.reload();
    await hydrated(page);
    const executions = page.getByTestId('execution-row');
    await expect(executions).toHaveCount(1);
    await expect(executions.first()).toContainText('upstream');
    await expect(executions.first()).toContainText('GET');
    await expect(executions.first()).toContainText('127.0.0.1');
    await expect(executions.first()).toContainText('success');
    await expect(executions.first().getByTestId('execution-http-status')).toHaveText('200');

    // Deactivated, it refuses executions; activated again, it accepts them.
    await row.getByRole('button', { name: 'Deactivate upstream' }).click();
    await expect(row.getByTestId('binding-state')).toHaveText('inactive');
    const refused = await execute(request, agentId, access_token, 'upstream');
    expect(refused.status()).toBe(403);
    expect(up.seen).toHaveLength(2);
    await row.getByRole('button', { name: 'Activate upstream' }).click();
    await expect(row.getByTestId('binding-state')).toHaveText('active');

    // Rotate to an inline credential: the next execution carries it.
    await row.getByText('Rotate credential').click();
    await row.getByLabel('New credential for upstream').fill(INLINE);
    await row.getByRole('button', { name: 'Save credential' }).click();
    await expect(row.getByTestId('binding-credential')).toHaveText('inline');
    const second = await execute(request, agentId, access_token, 'upstream');
    expect(second.status(), await second.text()).toBe(200);
    expect(up.seen).toHaveLength(3);
    expect(up.seen[2].headers.authorization).toBe(`Bearer ${INLINE}`);

    // Neither the secret nor the inline credential is ever in the page.
    expect(await page.content()).not.toContain(SECRET);
    expect(await page.content()).not.toContain(INLINE);
    await page.reload();
    await hydrated(page);
    await expect(page.getByTestId('execution-row')).toHaveCount(2);
    const html = await page.content();
    expect(html).not.toContain(SECRET);
    expect(html).not.toContain(INLINE);
    await screenshot(page, 'agent-bindings');

    // Deleted after confirmation; its executions stay listed.
    await row.getByText('Delete', { exact: true }).click();
    await row.getByRole('button', { name: 'Confirm delete' }).click();
    await expect(page.getByTestId('binding-row')).toHaveCount(0);
    await expect(bindings).toContainText('No bindings yet');
    await expect(page.getByTestId('execution-row')).toHaveCount(2);
  } finally {
    up.server.close();
  }
});
