import type { AppInfo } from '../bindings/AppInfo';
import type { KeySummary } from '../bindings/KeySummary';
import type { Plan } from '../bindings/Plan';

export const TOKEN = 'kw_3fJk9QzP0a_Z8xWq4LmN7pR2tV6yB1cD5fH9jK3sX0Qa7Hk2';
export const SECRET_PART = 'Z8xWq4LmN7pR2tV6yB1cD5fH9jK3sX0Qa7Hk2';

let counter = 0;

export function makeKey(overrides: Partial<KeySummary> = {}): KeySummary {
  counter += 1;
  const id = overrides.id ?? `id${String(counter).padStart(8, '0')}`;
  return {
    id,
    prefix: 'kw',
    masked: `kw_${id}_…x9Qa`,
    name: `Key ${counter}`,
    owner: 'alice',
    role: 'standard',
    scopes: [],
    track_usage: true,
    status: 'active',
    created_at: '2025-03-04T10:20:00Z',
    created_by: 'alice',
    expires_at: '2025-06-02T10:20:00Z',
    revoked_at: null,
    last_used_at: null,
    plan: 'Unlimited',
    ...overrides,
  };
}

export const INFO: AppInfo = {
  version: '0.1.0',
  database_path: '/home/alice/.local/share/io.keyward.desktop/keyward.db',
  database_error: null,
  clipboard_clear_seconds: 30,
  read_only: false,
  current_user: 'alice',
};

/** The plan every database starts with: no rate limit, no quota, the default. */
export const UNLIMITED: Plan = {
  name: 'Unlimited',
  rate_per_second: null,
  burst: null,
  quota: null,
  keys: 0,
  is_default: true,
  created_at: '2025-03-01T00:00:00Z',
};
