import type { AppInfo } from '../bindings/AppInfo';
import type { KeySummary } from '../bindings/KeySummary';
import type { Permissions } from '../bindings/Permissions';
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

/** An admin's, or anyone's on SQLite: every change offered. */
export const ALL_ALLOWED: Permissions = {
  change_keys: null,
  choose_owner: null,
  override_limit: null,
  change_owners: null,
  change_settings: null,
  read_audit: null,
};

/** What Rust decides for a manager (`keyward_core::Permissions::of`), word for word. */
export const MANAGER: Permissions = {
  change_keys: null,
  choose_owner: 'Managers create and manage their own keys only.',
  override_limit: 'Only admins can go past the limit.',
  change_owners: 'Only admins can change owners.',
  change_settings: 'Only admins can change settings.',
  read_audit: null,
};

/** What Rust decides for a verifier. */
export const VERIFIER: Permissions = {
  change_keys: 'Only admins and managers can change keys.',
  choose_owner: 'Only admins and managers can change keys.',
  override_limit: 'Only admins can go past the limit.',
  change_owners: 'Only admins can change owners.',
  change_settings: 'Only admins can change settings.',
  read_audit: 'Only admins and managers can read the audit log.',
};

export const INFO: AppInfo = {
  version: '0.1.0',
  database_path: '/home/alice/.local/share/io.keyward.desktop/keyward.db',
  database_error: null,
  clipboard_clear_seconds: 30,
  read_only: false,
  current_user: 'alice',
  backend: 'sqlite',
  operator_role: 'admin',
  permissions: ALL_ALLOWED,
  first_page: null,
};

/** The app on a team's PostgreSQL database, logged in as `role`. */
export function teamInfo(role: 'admin' | 'manager' | 'verifier'): AppInfo {
  const permissions = { admin: ALL_ALLOWED, manager: MANAGER, verifier: VERIFIER }[role];
  return {
    ...INFO,
    database_path: 'postgres://alice@db.example.com:5432/keyward',
    current_user: 'alice',
    backend: 'postgres',
    operator_role: role,
    permissions,
  };
}

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
