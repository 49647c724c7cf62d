// Shared labels and helpers for the key list, dialogs and details panel.

import type { AuditEvent } from '../../bindings/AuditEvent';
import type { KeySummary } from '../../bindings/KeySummary';
import type { Owner } from '../../bindings/Owner';
import type { Role } from '../../bindings/Role';
import type { Settings } from '../../bindings/Settings';
import { DEFAULT_EXPIRY, EXPIRY_OPTIONS, type ExpiryOption } from '../../lib/expiry';
import { formatDateTime } from '../../lib/format';
import { EXPIRES_SOON_DAYS } from '../../bindings/rules';

export const ROLES: readonly { value: Role; label: string }[] = [
  { value: 'standard', label: 'Standard' },
  { value: 'admin', label: 'Admin' },
  { value: 'project', label: 'Project' },
];

export function roleLabel(role: Role): string {
  return ROLES.find((r) => r.value === role)?.label ?? role;
}

/** Days before expiry at which an active key gets the "Expires soon" badge: the Rust rule. */
export { EXPIRES_SOON_DAYS } from '../../bindings/rules';

export function expiresSoon(key: KeySummary, now: number = Date.now()): boolean {
  if (key.status !== 'active' || key.expires_at === null) return false;
  const at = new Date(key.expires_at).getTime();
  return !Number.isNaN(at) && at - now <= EXPIRES_SOON_DAYS * 86_400_000;
}

/** The create dialog's starting expiry: the settings default if it is one of the presets. */
export function defaultExpiry(settings: Settings | null): ExpiryOption {
  if (!settings) return DEFAULT_EXPIRY;
  if (settings.default_expiry_days === 0) return 'never';
  const value = String(settings.default_expiry_days);
  return EXPIRY_OPTIONS.some((o) => o.value === value) ? (value as ExpiryOption) : DEFAULT_EXPIRY;
}

/** Finds an owner by name, case-insensitively, as the backend compares them. */
export function findOwner(owners: readonly Owner[], name: string): Owner | undefined {
  const lower = name.toLowerCase();
  return owners.find((o) => o.name.toLowerCase() === lower);
}

export function limitMessage(owner: string, active: number, limit: number): string {
  return `${owner} has ${active} of ${limit} active keys — revoke one first.`;
}

function show(field: string, value: unknown): string {
  if (value === null || value === undefined) return field === 'expires_at' ? 'never' : 'none';
  if (Array.isArray(value)) return value.length === 0 ? 'none' : value.join(', ');
  if (typeof value === 'boolean') return value ? 'on' : 'off';
  if (field === 'expires_at' && typeof value === 'string') return formatDateTime(value);
  if (field === 'role' && typeof value === 'string') return roleLabel(value as Role);
  return String(value);
}

const FIELD_LABELS: Record<string, string> = {
  name: 'name',
  owner: 'owner',
  role: 'role',
  scopes: 'scopes',
  track_usage: 'track usage',
  expires_at: 'expires',
  plan: 'plan',
};

function parseDetails(details: string): Record<string, unknown> {
  try {
    const value: unknown = JSON.parse(details);
    return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

/** One audit event in plain words, e.g. "Updated: owner Alice → Bob". */
export function describeEvent(event: AuditEvent): { title: string; detail: string | null } {
  const details = parseDetails(event.details);
  const overridden = details.limit_overridden === true ? ' (owner limit overridden)' : '';
  switch (event.action) {
    case 'key_created':
      return {
        title: `Created by ${event.actor}${overridden}`,
        detail: typeof details.owner === 'string' ? `Owner ${details.owner}` : null,
      };
    case 'key_revoked':
      return { title: `Revoked by ${event.actor}`, detail: null };
    case 'key_deleted':
      return { title: `Deleted by ${event.actor}`, detail: null };
    case 'key_updated': {
      const parts = Object.entries(details)
        .filter(([field]) => field in FIELD_LABELS)
        .map(([field, change]) => {
          const { from, to } = (change ?? {}) as { from?: unknown; to?: unknown };
          return `${FIELD_LABELS[field]} ${show(field, from)} → ${show(field, to)}`;
        });
      return {
        title: `Updated: ${parts.length ? parts.join('; ') : 'no visible changes'}${overridden}`,
        detail: `by ${event.actor}`,
      };
    }
    default:
      return { title: `${event.action.replace(/_/g, ' ')} by ${event.actor}`, detail: null };
  }
}
