import { test as base, expect, type APIRequestContext, type Page } from '@playwright/test';
import { createHmac } from 'node:crypto';

export const PASSWORD = 'Correct-Horse-9!';

// Every test fails if the page throws an uncaught error (e.g. a hydration panic).
export const test = base.extend<{ pageErrors: Error[] }>({
  pageErrors: [
    async ({ page }, use) => {
      const errors: Error[] = [];
      page.on('pageerror', (error) => errors.push(error));
      await use(errors);
      expect(errors, 'uncaught errors in the page').toEqual([]);
    },
    { auto: true },
  ],
});
export { expect };

/** Creates a fresh user through the REST API and returns its email. */
export async function signUp(request: APIRequestContext): Promise<string> {
  const email = `e2e-${Date.now()}-${Math.random().toString(36).slice(2, 8)}@example.com`;
  const response = await request.post('/v1/auth/signup', {
    data: { email, password: PASSWORD, display_name: 'E2E' },
  });
  expect(response.status(), 'POST /v1/auth/signup').toBe(200);
  return email;
}

/** Waits until the WASM bundle has hydrated the server-rendered page. */
export async function hydrated(page: Page) {
  await expect(page.locator('html[data-hydrated]')).toBeAttached({ timeout: 15_000 });
}

export async function fillSignIn(page: Page, email: string, password: string) {
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

/** Signs a fresh user up and in; returns the email once the dashboard shows. */
export async function signedIn(page: Page, request: APIRequestContext): Promise<string> {
  const email = await signUp(request);
  await page.goto('/login');
  await hydrated(page);
  await fillSignIn(page, email, PASSWORD);
  await expect(page).toHaveURL('/');
  await expect(page.getByRole('heading', { level: 1, name: 'Dashboard' })).toBeVisible();
  return email;
}

/** Opens a dashboard page and waits for it to be live. */
export async function open(page: Page, path: string, heading: string) {
  await page.goto(path);
  await expect(page.getByRole('heading', { level: 1, name: heading })).toBeVisible();
  await hydrated(page);
}

/** Keeps a full-page screenshot of the page as a test artifact. */
export async function screenshot(page: Page, name: string) {
  await page.screenshot({ path: `test-results/screenshots/${name}.png`, fullPage: true });
}

/** Creates a vault through the Vaults page and opens it; returns its id. */
export async function createVault(page: Page, name: string): Promise<string> {
  await open(page, '/vaults', 'Vaults');
  await page.getByLabel('Vault name').fill(name);
  await page.getByRole('button', { name: 'Create vault' }).click();
  await page.getByRole('link', { name }).click();
  await expect(page.getByRole('heading', { level: 1, name })).toBeVisible();
  await hydrated(page);
  const id = page.url().split('/vaults/')[1];
  expect(id).toMatch(/^[0-9a-f-]{36}$/);
  return id;
}

/** Adds a secret on the open vault page. */
export async function addSecret(page: Page, path: string, value: string, type = 'api_key') {
  await page.getByLabel('Path', { exact: true }).fill(path);
  await page.getByLabel('Type', { exact: true }).selectOption(type);
  await page.getByLabel('Value', { exact: true }).fill(value);
  await page.getByRole('button', { name: 'Save secret' }).click();
  await expect(page.locator(`tr[data-path="${path}"]`)).toBeVisible();
}

/** RFC 6238 TOTP (SHA-1, 6 digits, 30 s) of a base32 secret, as an authenticator app computes it. */
export function totp(base32: string, at = Date.now()): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const c of base32.replace(/=+$/, '').toUpperCase()) {
    bits += alphabet.indexOf(c).toString(2).padStart(5, '0');
  }
  const bytes = Buffer.from(bits.match(/.{8}/g)!.map((b) => parseInt(b, 2)));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(at / 1000 / 30)));
  const mac = createHmac('sha1', bytes).update(counter).digest();
  const offset = mac[mac.length - 1] & 0xf;
  const code = (mac.readUInt32BE(offset) & 0x7fffffff) % 1_000_000;
  return code.toString().padStart(6, '0');
}
