import type { Page } from '@playwright/test';
import { PASSWORD, expect, fillSignIn, hydrated, open, signUp, signedIn, test } from './helpers';

const AREAS = [
  'Dashboard',
  'Vaults',
  'Agents',
  'Sharing',
  'Audit Log',
  'Security',
  'API Keys',
  'Billing',
  'Team',
  'Approvals',
];

async function expectDashboard(page: Page, email: string) {
  await expect(page).toHaveURL('/');
  await expect(page.getByRole('heading', { level: 1, name: 'Dashboard' })).toBeVisible();
  const nav = page.getByRole('navigation', { name: 'Main' });
  await expect(nav).toBeVisible();
  await expect(nav.getByRole('link')).toHaveText(AREAS);
  for (const area of AREAS) {
    await expect(nav.getByRole('link', { name: area, exact: true })).toBeVisible();
  }
  await expect(page.getByRole('banner').getByText(email)).toBeVisible();
}

test('signing in shows the dashboard with the sidebar and the user email', async ({ page, request }) => {
  const email = await signUp(request);

  await page.goto('/login');
  await hydrated(page);
  await expect(page).toHaveTitle('Sign in · Talon');
  await fillSignIn(page, email, PASSWORD);

  await expectDashboard(page, email);
  await expect(page.getByRole('link', { name: 'Dashboard', exact: true })).toHaveAttribute(
    'aria-current',
    'page',
  );
  await page.screenshot({ path: 'test-results/dashboard.png', fullPage: true });

  // Client-side navigation between areas keeps the session.
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Vaults' }).click();
  await expect(page).toHaveURL('/vaults');
  await expect(page.getByRole('heading', { level: 1, name: 'Vaults' })).toBeVisible();
  await expect(page.getByRole('banner').getByText(email)).toBeVisible();

  // A full page load of another area is server-rendered for the signed-in user.
  await page.goto('/team');
  await expect(page.getByRole('heading', { level: 1, name: 'Team' })).toBeVisible();
  await expect(page.getByRole('banner').getByText(email)).toBeVisible();
  await hydrated(page);

  // Signing out clears the session: the dashboard is no longer reachable.
  await page.getByRole('button', { name: 'Sign out' }).click();
  await expect(page).toHaveURL('/login');
  await page.goto('/');
  await expect(page).toHaveURL('/login');
  await expect(page.getByRole('button', { name: 'Sign in' })).toBeVisible();
});

test('a wrong password shows "Invalid credentials" and no dashboard', async ({ page, request }) => {
  const email = await signUp(request);

  await page.goto('/login');
  await hydrated(page);
  await fillSignIn(page, email, 'Wrong-Horse-9!');

  await expect(page.getByRole('alert')).toHaveText('Invalid credentials');
  await expect(page).toHaveURL(/\/login/);
  await expect(page.getByRole('navigation', { name: 'Main' })).toHaveCount(0);
  const cookies = await page.context().cookies();
  expect(cookies.map((cookie) => cookie.name)).not.toContain('talon_session');
  await page.screenshot({ path: 'test-results/login-invalid.png', fullPage: true });
});

test('signed-out visits to dashboard pages redirect to /login, which returns there', async ({ page, request }) => {
  for (const path of ['/', '/vaults', '/agents', '/sharing', '/audit', '/security', '/api-keys', '/billing', '/team', '/approvals']) {
    const response = await page.goto(path);
    expect(response?.ok(), `GET ${path}`).toBeTruthy();
    await expect(page).toHaveURL(path === '/' ? '/login' : `/login?next=${path}`);
  }
  await hydrated(page);

  // Signing in goes back to the page asked for, query included.
  const email = await signUp(request);
  await page.goto('/audit?action=auth.login');
  await expect(page).toHaveURL('/login?next=/audit%3Faction%3Dauth.login');
  await hydrated(page);
  await fillSignIn(page, email, PASSWORD);
  await expect(page).toHaveURL('/audit?action=auth.login');
  await expect(page.getByRole('heading', { level: 1, name: 'Audit Log' })).toBeVisible();

  // Only paths of this site are followed.
  await page.context().clearCookies();
  await page.goto('/login?next=//evil.example/');
  await hydrated(page);
  await fillSignIn(page, email, PASSWORD);
  await expect(page).toHaveURL('/');
});

test('the session cookie is HttpOnly and SameSite=Lax', async ({ page, request }) => {
  const email = await signUp(request);
  await page.goto('/login');
  await hydrated(page);
  await fillSignIn(page, email, PASSWORD);
  await expectDashboard(page, email);

  const session = (await page.context().cookies()).find((cookie) => cookie.name === 'talon_session');
  expect(session).toBeDefined();
  expect(session?.httpOnly).toBe(true);
  expect(session?.sameSite).toBe('Lax');
  expect(session?.path).toBe('/');
  expect(page.url()).not.toContain(session?.value ?? '<no session>');
  expect(await page.evaluate(() => document.cookie)).not.toContain('talon_session');
});

test.describe('without JavaScript', () => {
  test.use({ javaScriptEnabled: false });

  test('the sign-in form still works as a plain form post', async ({ page, request }) => {
    const email = await signUp(request);

    await page.goto('/login');
    await fillSignIn(page, email, 'Wrong-Horse-9!');
    await expect(page.getByRole('alert')).toHaveText('Invalid credentials');
    await expect(page).toHaveURL(/\/login/);

    await fillSignIn(page, email, PASSWORD);
    await expectDashboard(page, email);

    await page.getByRole('button', { name: 'Sign out' }).click();
    await expect(page).toHaveURL('/login');
  });
});

test('Sign in with Google goes through the provider with PKCE and lands on the dashboard', async ({ page }) => {
  await page.goto('/login');
  await hydrated(page);
  await page.getByRole('link', { name: 'Sign in with Google' }).click();
  await expectDashboard(page, 'google-user@example.com');
  await page.screenshot({ path: 'test-results/screenshots/google-sign-in.png', fullPage: true });

  // A callback without the matching state (a forged or replayed one) signs nobody in.
  await page.context().clearCookies();
  await page.goto('/auth/google/callback?code=forged&state=forged');
  await expect(page).toHaveURL('/login?error=google');
  await expect(page.getByRole('alert')).toContainText('Google sign-in did not complete');
});

test('an action after the session ended in another browser goes to the sign-in page', async ({ page, browser, request }) => {
  const email = await signedIn(page, request);
  await open(page, '/vaults', 'Vaults');

  const elsewhere = await browser.newContext();
  const other = await elsewhere.newPage();
  await other.goto('/login');
  await hydrated(other);
  await fillSignIn(other, email, PASSWORD);
  await expect(other).toHaveURL('/');
  await open(other, '/security', 'Security');
  await other.getByRole('button', { name: 'Sign out everywhere' }).click();
  await expect(other).toHaveURL('/login');
  await elsewhere.close();

  await page.getByLabel('Vault name').fill('after-sign-out');
  await page.getByRole('button', { name: 'Create vault' }).click();
  await expect(page).toHaveURL('/login');
  await expect(page.getByRole('button', { name: 'Sign in' })).toBeVisible();
});
