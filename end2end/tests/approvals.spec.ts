import { readFileSync } from 'node:fs';
import type { APIRequestContext, Page } from '@playwright/test';
import { PASSWORD, expect, fillSignIn, hydrated, open, screenshot, test } from './helpers';

// The second test reads the approval mail from the server's dev outbox
// (`<data-dir>/outbox.jsonl`, written when no SMTP server is configured). `scripts/talon-dev test`
// passes its path as E2E_OUTBOX; run by hand, start the server with `--data-dir DIR` and set
// E2E_OUTBOX=DIR/outbox.jsonl.
const OUTBOX = process.env.E2E_OUTBOX;

const VALUE = 'pg-prod-e2e-5b7d21c9';

type World = { email: string; vaultId: string; agentId: string; agentToken: string };

/**
 * Over REST: a fresh owner, a vault with `prod/db`, an agent with its token, and a policy
 * that lets the agent read `prod/**` only once a person approves each read.
 */
async function gatedWorld(request: APIRequestContext, rule: object = {}): Promise<World> {
  const email = `e2e-${Date.now()}-${Math.random().toString(36).slice(2, 8)}@example.com`;
  const signup = await request.post('/v1/auth/signup', {
    data: { email, password: PASSWORD, display_name: 'E2E' },
  });
  expect(signup.status(), 'POST /v1/auth/signup').toBe(200);
  const owner = { Authorization: `Bearer ${(await signup.json()).access_token}` };

  const vault = await request.post('/v1/vaults', { headers: owner, data: { name: 'production' } });
  expect(vault.status(), await vault.text()).toBe(201);
  const vaultId = (await vault.json()).id;
  const secret = await request.put(`/v1/vaults/${vaultId}/secrets/prod/db`, {
    headers: owner,
    data: { value: VALUE },
  });
  expect(secret.status(), await secret.text()).toBe(201);

  const agent = await request.post('/v1/agents', { headers: owner, data: { name: 'deploy-bot' } });
  expect(agent.status(), await agent.text()).toBe(201);
  const { agent: created, api_key } = await agent.json();
  const issued = await request.post('/v1/auth/agent-token', { data: { api_key } });
  expect(issued.status(), await issued.text()).toBe(200);

  const policy = await request.post(`/v1/vaults/${vaultId}/policies`, {
    headers: owner,
    data: {
      secret_path_pattern: 'prod/**',
      principal_type: 'agent',
      principal_id: created.id,
      permissions: ['read'],
      conditions: { require_approval: rule },
    },
  });
  expect(policy.status(), await policy.text()).toBe(201);
  return { email, vaultId, agentId: created.id, agentToken: (await issued.json()).access_token };
}

/** The agent reads `prod/db` over REST. */
async function agentRead(request: APIRequestContext, w: World) {
  return request.get(`/v1/vaults/${w.vaultId}/secrets/prod/db`, {
    headers: { Authorization: `Bearer ${w.agentToken}` },
  });
}

/** The agent's read is held for approval; returns the approval's id. */
async function heldRead(request: APIRequestContext, w: World): Promise<string> {
  const held = await agentRead(request, w);
  expect(held.status()).toBe(403);
  const body = await held.json();
  expect(body.type).toBe('approval_required');
  expect(JSON.stringify(body)).not.toContain(VALUE);
  return body.approval_id;
}

async function approvalStatus(request: APIRequestContext, w: World, id: string): Promise<string> {
  const res = await request.get(`/v1/approvals/${id}/status`, {
    headers: { Authorization: `Bearer ${w.agentToken}` },
  });
  expect(res.status()).toBe(200);
  return (await res.json()).status;
}

/** The `qd_` token of the newest approval mail to `to` in the outbox. */
async function mailedToken(to: string): Promise<string> {
  let token = '';
  await expect
    .poll(
      () => {
        let text = '';
        try {
          text = readFileSync(OUTBOX!, 'utf8');
        } catch {
          return '';
        }
        const mail = text
          .split('\n')
          .filter((line) => line.trim())
          .map((line) => JSON.parse(line))
          .filter((m) => m.to === to && String(m.subject).includes('approval'))
          .pop();
        token = /token=(qd_[A-Za-z0-9_-]+)/.exec(mail?.body ?? '')?.[1] ?? '';
        return token;
      },
      { timeout: 10_000, message: `an approval mail to ${to} in ${OUTBOX}` },
    )
    .toMatch(/^qd_/);
  return token;
}

async function signIn(page: Page, email: string) {
  await page.goto('/login');
  await hydrated(page);
  await fillSignIn(page, email, PASSWORD);
  await expect(page).toHaveURL('/');
}

test('a held agent read appears on the open Approvals page and is approved with a step-up', async ({
  page,
  request,
}) => {
  const w = await gatedWorld(request);
  await signIn(page, w.email);
  await open(page, '/approvals', 'Approvals');
  await expect(page.getByText('Nothing here.')).toBeVisible();
  await expect(page.getByTestId('approvals-badge')).toHaveCount(0);
  // Marks this document: still there after the approval shows means the page never reloaded.
  await page.evaluate(() => ((window as unknown as { e2eMarker: string }).e2eMarker = 'same page'));

  // The agent's read is held for approval, and appears on the open page by itself.
  const id = await heldRead(request, w);
  const card = page.locator(`[data-testid="approval"][data-id="${id}"]`);
  await expect(card).toBeVisible({ timeout: 10_000 });
  expect(await page.evaluate(() => (window as unknown as { e2eMarker?: string }).e2eMarker)).toBe('same page');
  await expect(card.getByRole('heading', { level: 2 })).toHaveText('deploy-bot asks to read prod/db in production');
  await expect(card).toContainText('deploy-bot (agent)');
  await expect(card).toContainText('secret.read');
  await expect(card).toContainText('No reason given');
  await expect(card.getByTestId('approval-risk')).toHaveText('2');
  await expect(card.getByTestId('approval-progress')).toHaveText('0/1 approvals');
  await expect(card).toContainText('once');
  await expect(card.getByTestId('approval-status')).toHaveText('pending');
  await expect(page.getByText('Nothing here.')).toHaveCount(0);
  // The sidebar's badge counts it for this approver.
  const nav = page.getByRole('navigation', { name: 'Main' });
  await expect(nav.getByTestId('approvals-badge')).toHaveText('1', { timeout: 10_000 });

  // Risk tier 2: Approve opens a step-up prompt; a wrong password is refused with its sentence.
  await card.getByRole('button', { name: 'Approve' }).click();
  const confirmation = card.getByLabel('Confirm with your password or a TOTP code');
  await expect(confirmation).toHaveAttribute('type', 'password');
  await confirmation.fill('not-my-password');
  const refused = page.waitForResponse((r) => r.url().endsWith('/ui/approvals/decide'));
  await card.getByRole('button', { name: 'Confirm' }).click();
  expect((await refused).status()).toBe(403);
  await expect(card.getByRole('alert')).toHaveText(
    'The confirmation did not match your password or a current TOTP code',
  );
  await screenshot(page, 'approvals-step-up');
  expect(await approvalStatus(request, w, id)).toBe('pending');
  expect((await agentRead(request, w)).status()).toBe(403);

  await confirmation.fill(PASSWORD);
  await card.getByRole('button', { name: 'Confirm' }).click();
  await expect(page.getByRole('status').filter({ hasText: 'Approved' })).toHaveText(
    'Approved: deploy-bot may now read prod/db (once).',
  );
  await expect(card.getByTestId('approval-status')).toHaveText('approved');
  await expect(card.getByTestId('approval-progress')).toHaveText('1/1 approvals');
  await expect(card.getByRole('button', { name: 'Approve' })).toHaveCount(0);
  await expect(nav.getByTestId('approvals-badge')).toHaveCount(0, { timeout: 10_000 });
  await screenshot(page, 'approvals');

  // Exactly that read now goes through, with the value; the page never had it.
  const read = await agentRead(request, w);
  expect(read.status(), await read.text()).toBe(200);
  expect((await read.json()).value).toBe(VALUE);
  expect(await page.content()).not.toContain(VALUE);

  // The status filter lists it under Approved, not under Pending.
  await page.getByRole('navigation', { name: 'Filter by status' }).getByRole('link', { name: 'Pending' }).click();
  await expect(page).toHaveURL('/approvals?status=pending');
  await expect(page.locator(`[data-testid="approval"][data-id="${id}"]`)).toHaveCount(0);
  await page.getByRole('navigation', { name: 'Filter by status' }).getByRole('link', { name: 'Approved' }).click();
  await expect(page.locator(`[data-testid="approval"][data-id="${id}"]`)).toBeVisible();
});

test('a mailed one-click link signs in, shows the request and decides once on Confirm', async ({
  page,
  request,
}) => {
  test.skip(!OUTBOX, 'needs E2E_OUTBOX=<data-dir>/outbox.jsonl of the server (scripts/talon-dev test sets it)');
  const w = await gatedWorld(request);
  const id = await heldRead(request, w);
  const token = await mailedToken(w.email);

  // Signed out, the link goes through the sign-in page and back to the confirmation.
  await page.goto(`/v1/approvals/quick-decide?token=${token}&decision=approved`);
  await expect(page).toHaveURL(/\/login\?next=/);
  await hydrated(page);
  await fillSignIn(page, w.email, PASSWORD);
  await expect(page).toHaveURL(`/approvals/confirm?token=${token}&decision=approve`);
  await expect(page.getByRole('heading', { level: 1, name: 'Confirm a decision' })).toBeVisible();
  await hydrated(page);

  // It shows what is asked and the intended decision; nothing is decided yet.
  const card = page.getByTestId('approval');
  await expect(card.getByRole('heading', { level: 2 })).toHaveText('deploy-bot asks to read prod/db in production');
  await expect(page.getByTestId('intended-decision')).toHaveText('You are about to approve this request.');
  expect(await approvalStatus(request, w, id)).toBe('pending');

  await page.getByLabel('Confirm with your password or a TOTP code').fill(PASSWORD);
  await page.getByRole('button', { name: 'Confirm' }).click();
  await expect(page.getByRole('status')).toHaveText('Approved: deploy-bot may now read prod/db (once).');
  await expect(page.getByRole('button', { name: 'Confirm' })).toHaveCount(0);
  await expect(card.getByTestId('approval-status')).toHaveText('approved');
  await expect(card.getByTestId('approval-progress')).toHaveText('1/1 approvals');
  expect(await approvalStatus(request, w, id)).toBe('approved');
  await screenshot(page, 'approval-confirm');

  const read = await agentRead(request, w);
  expect(read.status(), await read.text()).toBe(200);
  expect((await read.json()).value).toBe(VALUE);

  // The link worked once: opened again, it says so and offers nothing to confirm.
  await page.reload();
  await hydrated(page);
  await expect(page.getByRole('alert')).toContainText('This link was already used, or it expired');
  await expect(page.getByRole('button', { name: 'Confirm' })).toHaveCount(0);
});

test('below risk tier 2 Reject decides at once, and the rejected read stays refused', async ({ page, request }) => {
  const w = await gatedWorld(request, { risk_tier: 1, grant: { for_seconds: 300 } });
  const id = await heldRead(request, w);
  await signIn(page, w.email);
  await open(page, '/approvals?status=pending', 'Approvals');
  const card = page.locator(`[data-testid="approval"][data-id="${id}"]`);
  await expect(card.getByTestId('approval-risk')).toHaveText('1');
  await expect(card).toContainText('for 300 seconds');

  await card.getByRole('button', { name: 'Reject' }).click();
  await expect(page.getByRole('status')).toHaveText('Rejected: the request from deploy-bot stays refused.');
  await expect(card.getByLabel('Confirm with your password or a TOTP code')).toHaveCount(0);
  expect(await approvalStatus(request, w, id)).toBe('rejected');
  // Gone from the pending list at the next refresh; listed under Rejected.
  await expect(card).toHaveCount(0, { timeout: 10_000 });
  await open(page, '/approvals?status=rejected', 'Approvals');
  await expect(page.locator(`[data-testid="approval"][data-id="${id}"]`).getByTestId('approval-status')).toHaveText(
    'rejected',
  );
  // The same read asks anew, and is not let through.
  const again = await heldRead(request, w);
  expect(again).not.toBe(id);
});

test("an agent's secret request is filled in through a masked input, granted read, or declined", async ({
  page,
  request,
}) => {
  const STRIPE = 'sk_test_e2e_requested_81f0';
  const w = await gatedWorld(request);
  const agent = { Authorization: `Bearer ${w.agentToken}` };
  await signIn(page, w.email);
  await open(page, '/approvals', 'Approvals');
  const section = page.getByRole('region', { name: 'Secret requests' });
  await expect(section).toContainText('No secret requests.');

  // The agent asks; the request appears on the open page.
  const asked = await request.post('/v1/secret-requests', {
    headers: agent,
    data: { label: 'Stripe test key', purpose: 'Run the billing smoke test', suggested_path: 'api-keys/stripe' },
  });
  expect(asked.status(), await asked.text()).toBe(201);
  const requestId = (await asked.json()).id;
  const card = section.locator(`[data-testid="secret-request"][data-id="${requestId}"]`);
  await expect(card).toBeVisible({ timeout: 10_000 });
  await expect(card.getByRole('heading', { level: 3 })).toHaveText('deploy-bot asks for Stripe test key');
  await expect(card).toContainText('Run the billing smoke test');
  await expect(card.getByTestId('secret-request-status')).toHaveText('pending');

  // Filled in: masked, into the chosen vault and path, granting read.
  const value = card.getByLabel('Value', { exact: true });
  await expect(value).toHaveAttribute('type', 'password');
  await expect(card.getByLabel('Path', { exact: true })).toHaveValue('api-keys/stripe');
  await card.getByLabel('Vault', { exact: true }).selectOption({ label: 'production' });
  await value.fill(STRIPE);
  await card.getByLabel('Grant the agent').selectOption('read');
  await screenshot(page, 'approvals-secret-request-form');
  await card.getByRole('button', { name: 'Store and fulfil' }).click();
  await expect(section.getByRole('status')).toHaveText('Stored at api-keys/stripe; the agent may read it.');
  await expect(card.getByTestId('secret-request-status')).toHaveText('fulfilled');
  await expect(card.getByTestId('secret-request-outcome')).toHaveText(
    'Stored at production / api-keys/stripe; granted read',
  );
  await expect(card.getByLabel('Value', { exact: true })).toHaveCount(0);
  expect(await page.content()).not.toContain(STRIPE);

  // The agent learns where it went (never the value there), then reads it under its grant.
  const checked = await request.get(`/v1/secret-requests/${requestId}`, { headers: agent });
  const status = await checked.json();
  expect(status.status).toBe('fulfilled');
  expect(status.path).toBe('api-keys/stripe');
  expect(JSON.stringify(status)).not.toContain(STRIPE);
  const read = await request.get(`/v1/vaults/${w.vaultId}/secrets/api-keys/stripe`, { headers: agent });
  expect(read.status(), await read.text()).toBe(200);
  expect((await read.json()).value).toBe(STRIPE);

  // A second request is declined with a reason the agent sees.
  const second = await request.post('/v1/secret-requests', {
    headers: agent,
    data: { label: 'Production database password', purpose: 'Migrate the schema' },
  });
  expect(second.status(), await second.text()).toBe(201);
  const secondId = (await second.json()).id;
  const declined = section.locator(`[data-testid="secret-request"][data-id="${secondId}"]`);
  await expect(declined).toBeVisible({ timeout: 10_000 });
  await declined.getByLabel('Reason for declining (optional, the agent sees it)').fill('Ask the DBA');
  await declined.getByRole('button', { name: 'Decline' }).click();
  await expect(section.getByRole('status')).toHaveText('Declined the request for Production database password.');
  await expect(declined.getByTestId('secret-request-status')).toHaveText('declined');
  const refusedReq = await (await request.get(`/v1/secret-requests/${secondId}`, { headers: agent })).json();
  expect(refusedReq.status).toBe('declined');
  expect(refusedReq.decline_reason).toBe('Ask the DBA');
  await screenshot(page, 'approvals-secret-requests');
});
