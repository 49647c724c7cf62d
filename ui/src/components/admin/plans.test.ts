import { mockIPC } from '@tauri-apps/api/mocks';
import { render, waitFor, within } from '@testing-library/svelte';
import userEvent from '@testing-library/user-event';
import { describe, expect, it } from 'vitest';
import type { NewPlan } from '../../bindings/NewPlan';
import type { Plan } from '../../bindings/Plan';
import type { Settings } from '../../bindings/Settings';
import { ALL_ALLOWED, UNLIMITED } from '../../test/fixtures';
import { summarizeDetails } from './format';
import { formatQuota, formatRate, planField, wholeNumber } from './plans';
import PlansView from './PlansView.svelte';
import SettingsView from './SettingsView.svelte';

const STARTER: Plan = {
  name: 'Starter',
  rate_per_second: 10,
  burst: 20,
  quota: { limit: 1000, per: 'day' },
  keys: 3,
  is_default: false,
  created_at: '2025-03-04T10:00:00Z',
};

function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const element = document.getElementById(id);
  if (!element) throw new Error(`#${id} is not on the page`);
  return element as T;
}

function row(name: string): HTMLElement {
  const found = document.querySelector<HTMLElement>(`tr.plan-row[data-plan="${name}"]`);
  if (!found) throw new Error(`no row for ${name}`);
  return found;
}

function button(name: string, action: string): HTMLElement {
  const found = row(name).querySelector<HTMLElement>(`[data-action="${action}"]`);
  if (!found) throw new Error(`no ${action} for ${name}`);
  return found;
}

type Call = { cmd: string; args: Record<string, unknown> };

/** A backend holding plans in memory, refusing what the core refuses (in its words). */
function backend(initial: Plan[] = [UNLIMITED, STARTER]) {
  const plans = initial.map((p) => ({ ...p }));
  const calls: Call[] = [];
  const failures: { list?: { kind: string; message: string } } = {};
  mockIPC((cmd, raw) => {
    const args = (raw ?? {}) as Record<string, unknown>;
    calls.push({ cmd, args });
    switch (cmd) {
      case 'list_plans':
        if (failures.list) throw failures.list;
        return structuredClone(plans).sort((a, b) => a.name.localeCompare(b.name));
      case 'create_plan': {
        const input = args.plan as NewPlan;
        if (input.rate_per_second !== null && input.rate_per_second > 1_000_000) {
          throw {
            kind: 'invalid_input',
            message: 'The rate must be between 1 and 1000000 requests per second.',
          };
        }
        const plan: Plan = {
          ...input,
          burst: input.burst ?? input.rate_per_second,
          keys: 0,
          is_default: false,
          created_at: '2025-03-05T10:00:00Z',
        };
        plans.push(plan);
        return plan;
      }
      case 'update_plan': {
        const input = args.plan as NewPlan;
        const plan = plans.find((p) => p.name === args.name) as Plan;
        Object.assign(plan, input);
        return plan;
      }
      case 'set_default_plan':
        for (const plan of plans) plan.is_default = plan.name === args.name;
        return plans.find((p) => p.name === args.name);
      case 'delete_plan': {
        const plan = plans.find((p) => p.name === args.name) as Plan;
        if (plan.keys > 0) {
          throw {
            kind: 'invalid_input',
            message: `The plan "${plan.name}" is used by ${plan.keys} keys; move them to another plan first. Nothing was changed.`,
          };
        }
        plans.splice(plans.indexOf(plan), 1);
        return null;
      }
      default:
        throw new Error(`unexpected ${cmd}`);
    }
  });
  return { plans, calls, failures };
}

async function loaded(): Promise<void> {
  await waitFor(() => expect(document.querySelectorAll('tr.plan-row').length).toBeGreaterThan(0));
}

describe('PlansView', () => {
  it('lists plans with their limits, keys and the default', async () => {
    backend();
    render(PlansView, { props: { permissions: ALL_ALLOWED } });
    expect(document.body).toHaveTextContent('Loading plans…');
    await loaded();
    const unlimited = row('Unlimited');
    expect(unlimited).toHaveTextContent('Default');
    expect(unlimited.querySelector('.col-rate')).toHaveTextContent('No rate limit');
    expect(unlimited.querySelector('.col-quota')).toHaveTextContent('No quota');
    expect(unlimited.querySelector('[data-action="make-default"]')).toBeNull();
    const starter = row('Starter');
    expect(starter.querySelector('.col-rate')).toHaveTextContent('10/s, burst 20');
    expect(starter.querySelector('.col-quota')).toHaveTextContent('1,000 per day');
    expect(starter.querySelector('.col-keys')).toHaveTextContent('3');
    expect(starter).not.toHaveTextContent('Default');
    expect(byId('plan-count')).toHaveTextContent('2 plans');
  });

  it('creates a plan in a dialog, showing the core’s words next to the field', async () => {
    const { calls } = backend();
    render(PlansView, { props: { permissions: ALL_ALLOWED } });
    await loaded();
    const user = userEvent.setup();
    await user.click(byId('new-plan-btn'));
    const dialog = byId('plan-dialog');
    expect(dialog).toHaveAttribute('role', 'dialog');
    expect(within(dialog).getByRole('heading')).toHaveTextContent('New plan');
    expect(byId('plan-name-input')).toHaveFocus();
    // Both limits start off: a new plan limits nothing until asked to.
    expect(document.getElementById('plan-rate-input')).toBeNull();
    expect(document.getElementById('plan-quota-input')).toBeNull();

    await user.type(byId('plan-name-input'), 'Pro');
    await user.click(byId('plan-rate-toggle'));
    await user.clear(byId('plan-rate-input'));
    await user.type(byId('plan-rate-input'), '2000000');
    await user.type(byId('plan-burst-input'), '50');
    await user.click(byId('plan-quota-toggle'));
    await user.clear(byId('plan-quota-input'));
    await user.type(byId('plan-quota-input'), '50000');
    await user.selectOptions(byId('plan-quota-per'), 'month');
    await user.click(byId('plan-save-btn'));

    await waitFor(() =>
      expect(byId('plan-rate-error')).toHaveTextContent(
        'The rate must be between 1 and 1000000 requests per second.',
      ),
    );
    expect(byId('plan-rate-input')).toHaveAttribute('aria-invalid', 'true');
    expect(byId('plan-rate-input')).toHaveAttribute('aria-describedby', 'plan-rate-error');
    expect(byId('plan-rate-input')).toHaveFocus();

    await user.clear(byId('plan-rate-input'));
    expect(document.getElementById('plan-rate-error')).toBeNull();
    await user.type(byId('plan-rate-input'), '25');
    await user.click(byId('plan-save-btn'));
    await waitFor(() => expect(document.getElementById('plan-dialog')).toBeNull());
    expect(calls.filter((c) => c.cmd === 'create_plan').at(-1)?.args.plan).toEqual({
      name: 'Pro',
      rate_per_second: 25,
      burst: 50,
      quota: { limit: 50000, per: 'month' },
    });
    await waitFor(() => expect(row('Pro')).toHaveTextContent('25/s, burst 50'));
    expect(row('Pro')).toHaveTextContent('50,000 per month');
    expect(byId('plans-message')).toHaveTextContent('Created plan Pro.');
    expect(byId('new-plan-btn')).toHaveFocus();
  });

  it('refuses a field that holds no whole number before asking the core', async () => {
    const { calls } = backend();
    render(PlansView, { props: { permissions: ALL_ALLOWED } });
    await loaded();
    const user = userEvent.setup();
    await user.click(byId('new-plan-btn'));
    await user.type(byId('plan-name-input'), 'Odd');
    await user.click(byId('plan-quota-toggle'));
    await user.clear(byId('plan-quota-input'));
    await user.click(byId('plan-save-btn'));
    expect(byId('plan-quota-error')).toHaveTextContent('Enter a whole number.');
    expect(calls.some((c) => c.cmd === 'create_plan')).toBe(false);
    await user.keyboard('{Escape}');
    expect(document.getElementById('plan-dialog')).toBeNull();
  });

  it('edits a plan from its current limits and makes another the default', async () => {
    const { calls } = backend();
    render(PlansView, { props: { permissions: ALL_ALLOWED } });
    await loaded();
    const user = userEvent.setup();
    await user.click(button('Starter', 'edit-plan'));
    expect(byId('plan-dialog')).toHaveTextContent('Edit plan Starter');
    expect(byId('plan-dialog')).toHaveTextContent('3 keys use this plan');
    expect(byId('plan-rate-toggle')).toBeChecked();
    expect(byId('plan-rate-input')).toHaveValue(10);
    expect(byId('plan-burst-input')).toHaveValue(20);
    expect(byId('plan-quota-input')).toHaveValue(1000);
    expect(byId('plan-quota-per')).toHaveValue('day');
    await user.click(byId('plan-rate-toggle'));
    await user.click(byId('plan-save-btn'));
    await waitFor(() => expect(row('Starter')).toHaveTextContent('No rate limit'));
    expect(calls.find((c) => c.cmd === 'update_plan')?.args).toEqual({
      name: 'Starter',
      plan: { name: 'Starter', rate_per_second: null, burst: null, quota: { limit: 1000, per: 'day' } },
    });

    await user.click(button('Starter', 'make-default'));
    await waitFor(() => expect(row('Starter')).toHaveTextContent('Default'));
    expect(row('Unlimited')).not.toHaveTextContent('Default');
    expect(byId('plans-message')).toHaveTextContent('Starter is now the default plan for new keys.');
    expect(button('Starter', 'edit-plan')).toHaveFocus();
  });

  it('confirms a delete, and shows the core’s refusal while keys use the plan', async () => {
    const { plans } = backend([UNLIMITED, STARTER, { ...STARTER, name: 'Old', keys: 0 }]);
    render(PlansView, { props: { permissions: ALL_ALLOWED } });
    await loaded();
    const user = userEvent.setup();
    await user.click(button('Starter', 'delete-plan'));
    const dialog = byId('delete-plan-dialog');
    expect(within(dialog).getByRole('heading')).toHaveTextContent('Delete plan Starter?');
    expect(byId('delete-plan-cancel-btn')).toHaveFocus();
    await user.click(byId('delete-plan-confirm-btn'));
    await waitFor(() =>
      expect(byId('delete-plan-text')).toHaveTextContent(
        'The plan "Starter" is used by 3 keys; move them to another plan first.',
      ),
    );
    expect(byId('delete-plan-confirm-btn')).toBeDisabled();
    expect(byId('delete-plan-cancel-btn')).toHaveFocus();
    await user.keyboard('{Escape}');
    expect(document.getElementById('delete-plan-dialog')).toBeNull();
    expect(row('Starter')).toBeInTheDocument();

    await user.click(button('Old', 'delete-plan'));
    await user.click(byId('delete-plan-confirm-btn'));
    await waitFor(() => expect(document.querySelector('tr.plan-row[data-plan="Old"]')).toBeNull());
    expect(plans.map((p) => p.name)).toEqual(['Unlimited', 'Starter']);
    expect(byId('plans-message')).toHaveTextContent('Deleted plan Old.');
    expect(byId('new-plan-btn')).toHaveFocus();
  });

  it('says when the plans cannot be loaded, and tries again', async () => {
    const { failures } = backend();
    failures.list = { kind: 'internal', message: 'The database is busy; try again.' };
    render(PlansView, { props: { permissions: ALL_ALLOWED } });
    await waitFor(() => expect(byId('plans-error')).toHaveTextContent('The database is busy'));
    delete failures.list;
    await userEvent.setup().click(within(byId('plans-error')).getByRole('button', { name: 'Try again' }));
    await loaded();
    expect(document.getElementById('plans-error')).toBeNull();
  });
});

describe('Settings → Plans', () => {
  const SETTINGS: Settings = {
    default_expiry_days: 90,
    clipboard_clear_seconds: 30,
    key_prefix: 'kw',
    owner_key_limit: 5,
    scope_catalogue: ['keyward:verify', 'read'],
  };

  it('shows the reserved scope without a remove button, and the plans in their own section', async () => {
    const { calls } = backend();
    mockIPC((cmd, raw) => {
      if (cmd === 'get_settings') return SETTINGS;
      calls.push({ cmd, args: (raw ?? {}) as Record<string, unknown> });
      if (cmd === 'list_plans') return [UNLIMITED, STARTER];
      return null;
    });
    render(SettingsView, { props: { permissions: ALL_ALLOWED } });
    const user = userEvent.setup();
    const reserved = await waitFor(() => {
      const chip = document.querySelector('.scope-chip[data-scope="keyward:verify"]');
      if (!chip) throw new Error('no chip');
      return chip;
    });
    expect(reserved).toHaveTextContent('reserved');
    expect(reserved.querySelector('button')).toBeNull();
    expect(document.querySelector('.scope-chip[data-scope="read"] button')).not.toBeNull();
    expect(byId('settings-section-general')).toHaveAttribute('aria-current', 'page');

    await user.click(byId('settings-section-plans'));
    expect(byId('settings-section-plans')).toHaveAttribute('aria-current', 'page');
    await loaded();
    expect(document.getElementById('setting-key-prefix')).toBeNull();
    await user.click(byId('settings-section-general'));
    await waitFor(() => expect(byId('setting-key-prefix')).toHaveValue('kw'));
  });
});

describe('plan words', () => {
  it('formats limits, reads typed numbers, and places the core’s messages', () => {
    expect(formatRate(STARTER)).toBe('10/s, burst 20');
    expect(formatRate(UNLIMITED)).toBe('No rate limit');
    expect(formatQuota({ ...STARTER, quota: { limit: 1_000_000, per: 'week' } })).toBe('1,000,000 per week');
    expect(formatQuota(UNLIMITED)).toBe('No quota');
    expect(wholeNumber(' 12 ', 100)).toBe(12);
    expect(wholeNumber('1.5', 100)).toBeNull();
    expect(wholeNumber('', 100)).toBeNull();
    expect(wholeNumber('99999999999', 100)).toBe(100);
    expect(wholeNumber('-3', 100)).toBe(0);
    expect(planField('The burst must be between 1 and 1000000 requests.')).toBe('burst');
    expect(planField('The quota must be between 1 and 1000000000000 requests per day.')).toBe('quota');
    expect(planField('A plan named "Burst rate" already exists; choose another name.')).toBe('name');
    expect(planField('Give the plan a name.')).toBe('name');
  });

  it('summarises plan events in the audit log', () => {
    expect(
      summarizeDetails(
        'plan_created',
        '{"name":"Starter","rate_per_second":10,"burst":20,"quota":{"limit":1000,"per":"day"}}',
      ),
    ).toBe('Starter; 10/s, burst 20 · 1,000 per day');
    expect(summarizeDetails('default_plan_changed', '{"from":"Unlimited","to":"Starter"}')).toBe(
      'Unlimited → Starter',
    );
    expect(summarizeDetails('key_updated', '{"plan":{"from":"Unlimited","to":"Starter"}}')).toBe(
      'plan: Unlimited → Starter',
    );
  });
});
