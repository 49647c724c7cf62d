// Plain-words labels and summaries for the audit log.

import type { PlanLimits } from '../../bindings/PlanLimits';
import type { QuotaPeriod } from '../../bindings/QuotaPeriod';
import { formatLimits } from './plans';

export const ACTION_LABELS: Record<string, string> = {
  key_created: 'Key created',
  key_updated: 'Key updated',
  key_revoked: 'Key revoked',
  key_deleted: 'Key deleted',
  owner_created: 'Owner added',
  owner_renamed: 'Owner renamed',
  settings_changed: 'Settings changed',
  plan_created: 'Plan created',
  plan_updated: 'Plan changed',
  plan_deleted: 'Plan deleted',
  default_plan_changed: 'Default plan changed',
};

export function actionLabel(action: string): string {
  return ACTION_LABELS[action] ?? action.replace(/_/g, ' ');
}

const FIELD_LABELS: Record<string, string> = {
  name: 'name',
  owner: 'owner',
  role: 'role',
  scopes: 'scopes',
  track_usage: 'usage tracking',
  expires_at: 'expires',
  default_expiry_days: 'default expiry',
  clipboard_clear_seconds: 'clipboard clear',
  key_prefix: 'key prefix',
  owner_key_limit: 'owner limit',
  scope_catalogue: 'scopes',
  plan: 'plan',
};

function field(key: string): string {
  return FIELD_LABELS[key] ?? key.replace(/_/g, ' ');
}

function value(v: unknown, key = ''): string {
  if (v === null || v === undefined) {
    return key === 'expires_at' ? 'never' : '—';
  }
  if (Array.isArray(v)) return v.length === 0 ? 'none' : v.map((x) => value(x)).join(', ');
  if (typeof v === 'boolean') return v ? 'on' : 'off';
  if (typeof v === 'string' && key === 'expires_at') {
    const date = new Date(v);
    return Number.isNaN(date.getTime()) ? v : date.toLocaleDateString();
  }
  if (key === 'default_expiry_days' && v === 0) return 'never';
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

/** A plan's limits as an audit row holds them, in the Plans screen's words. */
function limitsText(v: unknown): string {
  if (typeof v !== 'object' || v === null) return '—';
  const d = v as Record<string, unknown>;
  const number = (x: unknown) => (typeof x === 'number' ? x : null);
  const quota = d.quota as { limit?: unknown; per?: unknown } | null | undefined;
  const limits: PlanLimits = {
    rate_per_second: number(d.rate_per_second),
    burst: number(d.burst),
    quota:
      quota && typeof quota.limit === 'number' && typeof quota.per === 'string'
        ? { limit: quota.limit, per: quota.per as QuotaPeriod }
        : null,
  };
  return formatLimits(limits);
}

function parse(details: string): Record<string, unknown> | null {
  try {
    const parsed: unknown = JSON.parse(details);
    return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)
      ? (parsed as Record<string, unknown>)
      : null;
  } catch {
    return null;
  }
}

function isChange(v: unknown): v is { from: unknown; to: unknown } {
  return typeof v === 'object' && v !== null && 'from' in v && 'to' in v;
}

/** The key name recorded with an event, if any. */
export function detailName(action: string, details: string): string | null {
  if (!action.startsWith('key_')) return null;
  const d = parse(details);
  if (d === null) return null;
  if (typeof d.name === 'string') return d.name;
  if (isChange(d.name) && typeof d.name.to === 'string') return d.name.to;
  return null;
}

/** A short readable summary of an event's details JSON. */
export function summarizeDetails(action: string, details: string): string {
  const d = parse(details);
  if (d === null) return details;
  const parts: string[] = [];
  switch (action) {
    case 'owner_created':
      if (typeof d.owner === 'string') parts.push(`owner: ${d.owner}`);
      break;
    case 'owner_renamed':
      parts.push(`${value(d.from)} → ${value(d.to)}`);
      break;
    case 'plan_created':
      if (typeof d.name === 'string') parts.push(d.name);
      parts.push(limitsText(d));
      break;
    case 'plan_updated':
      if (isChange(d.name) && d.name.from !== d.name.to) {
        parts.push(`${value(d.name.from)} → ${value(d.name.to)}`);
      } else if (isChange(d.name)) {
        parts.push(value(d.name.to));
      }
      if (JSON.stringify(d.from) !== JSON.stringify(d.to)) {
        parts.push(`${limitsText(d.from)} → ${limitsText(d.to)}`);
      }
      break;
    case 'plan_deleted':
      if (typeof d.name === 'string') parts.push(d.name);
      break;
    case 'default_plan_changed':
      parts.push(`${value(d.from)} → ${value(d.to)}`);
      break;
    case 'key_created':
      if (d.owner !== undefined) parts.push(`owner: ${value(d.owner)}`);
      if (typeof d.plan === 'string') parts.push(`plan: ${d.plan}`);
      if (d.role !== undefined) parts.push(`role: ${value(d.role)}`);
      if (Array.isArray(d.scopes) && d.scopes.length > 0) parts.push(`scopes: ${value(d.scopes)}`);
      if (d.expires_at !== undefined) parts.push(`expires: ${value(d.expires_at, 'expires_at')}`);
      if (d.track_usage === false) parts.push('usage not tracked');
      break;
    case 'key_revoked':
    case 'key_deleted':
      if (d.owner !== undefined) parts.push(`owner: ${value(d.owner)}`);
      break;
    default:
      for (const [key, v] of Object.entries(d)) {
        if (key === 'limit_overridden') continue;
        if (isChange(v) && Array.isArray(v.from) && Array.isArray(v.to)) {
          const before = v.from.map(String);
          const after = v.to.map(String);
          const added = after.filter((x) => !before.includes(x)).map((x) => `+${x}`);
          const removed = before.filter((x) => !after.includes(x)).map((x) => `−${x}`);
          const diff = [...added, ...removed];
          parts.push(`${field(key)}: ${diff.length > 0 ? diff.join(', ') : 'reordered'}`);
        } else if (isChange(v)) {
          parts.push(`${field(key)}: ${value(v.from, key)} → ${value(v.to, key)}`);
        } else {
          parts.push(`${field(key)}: ${value(v, key)}`);
        }
      }
  }
  if (d.limit_overridden === true) parts.push('limit overridden');
  return parts.join('; ');
}

/** Accepts `kw_3fJk9QzP0a`, a full token, or a bare id; returns the bare id (or null). */
export function normalizeKeyId(raw: string): string | null {
  const text = raw.trim();
  if (text === '') return null;
  const pieces = text.split('_');
  return pieces.length >= 2 ? pieces[1] || null : text;
}
