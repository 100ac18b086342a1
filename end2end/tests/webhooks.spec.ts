import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHmac } from 'node:crypto';
import { test, expect, signedIn, open, screenshot } from './helpers';

// Needs the server started with TALON_ALLOW_HTTP_WEBHOOKS=true and
// TALON_ALLOW_PRIVATE_WEBHOOKS=true (as `scripts/talon-dev test` does), since the
// receiver below listens on plain http on 127.0.0.1.

type Received = { headers: IncomingHttpHeaders; body: string };

/** A local HTTP receiver that records every request and answers 200. */
async function receiver(): Promise<{ url: string; seen: Received[]; server: Server }> {
  const seen: Received[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      seen.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      res.writeHead(200).end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/hook`, seen, server };
}

test('a webhook added on the Security page receives a signed test event', async ({ page, request }) => {
  const rx = await receiver();
  try {
    await signedIn(page, request);
    await open(page, '/security', 'Security');
    const card = page.getByRole('region', { name: 'Webhooks' });
    await expect(card).toContainText('No webhooks');

    await card.getByLabel('Endpoint URL').fill(rx.url);
    await card.getByLabel('Events').fill('*');
    await card.getByLabel('Description').fill('e2e receiver');
    await card.getByRole('button', { name: 'Add webhook' }).click();
    const shown = page.getByTestId('webhook-secret');
    await expect(shown).toBeVisible();
    const secret = ((await shown.locator('code').textContent()) ?? '').trim();
    expect(secret).toMatch(/^whsec_[0-9a-f]{64}$/);
    const row = page.getByTestId('webhook-row');
    await expect(row).toHaveCount(1);
    await expect(row).toContainText(rx.url);
    await expect(row).toContainText('active');

    await row.getByRole('button', { name: 'Send test event' }).click();
    await expect(page.getByText('Test event queued.')).toBeVisible();

    // The receiver gets it, signed with the secret shown once.
    await expect.poll(() => rx.seen.filter((r) => r.headers['x-talon-event'] === 'webhook.test').length, {
      timeout: 10_000,
    }).toBe(1);
    const got = rx.seen.find((r) => r.headers['x-talon-event'] === 'webhook.test')!;
    const signature = String(got.headers['x-talon-signature']);
    const match = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(signature);
    expect(match, signature).not.toBeNull();
    const expected = createHmac('sha256', secret).update(`${match![1]}.${got.body}`).digest('hex');
    expect(match![2]).toBe(expected);
    const body = JSON.parse(got.body);
    expect(body.event).toBe('webhook.test');
    expect(body.id).toBe(got.headers['x-talon-delivery']);
    expect(body.data.action).toBe('webhook.test');

    // The page shows the delivery as delivered.
    await expect(async () => {
      await page.reload();
      await expect(page.getByTestId('webhook-last-status')).toContainText('delivered', { timeout: 1_000 });
    }).toPass({ timeout: 10_000 });
    await screenshot(page, 'security-webhooks');

    await page.getByTestId('webhook-row').getByText('Delete', { exact: true }).click();
    await page.getByRole('button', { name: 'Confirm delete' }).click();
    await expect(page.getByTestId('webhook-row')).toHaveCount(0);
    await expect(page.getByRole('region', { name: 'Webhooks' })).toContainText('No webhooks');
  } finally {
    rx.server.close();
  }
});
