// Usage plans: the commands behind Settings → Plans, the plan choice for a key, and a key's
// quota usage. Every function rejects with an `IpcError`, as in `./index`.

import type { NewPlan } from '../bindings/NewPlan';
import type { Plan } from '../bindings/Plan';
import type { QuotaUsage } from '../bindings/QuotaUsage';
import { call } from './index';

/** Every plan, by name, with how many keys use it and which is the default. */
export function listPlans(): Promise<Plan[]> {
  return call<Plan[]>('list_plans');
}

export function createPlan(plan: NewPlan): Promise<Plan> {
  return call<Plan>('create_plan', { plan });
}

/** Changes the plan called `name` (its name may change too). */
export function updatePlan(name: string, plan: NewPlan): Promise<Plan> {
  return call<Plan>('update_plan', { name, plan });
}

/** Refused (`invalid_input`, in the core's words) while keys use it or it is the default. */
export function deletePlan(name: string): Promise<void> {
  return call<void>('delete_plan', { name });
}

/** Makes `name` the plan new keys get. */
export function setDefaultPlan(name: string): Promise<Plan> {
  return call<Plan>('set_default_plan', { name });
}

/** How much of its plan's quota a key has used this period; `null` when the plan has none. */
export function getQuotaUsage(id: string): Promise<QuotaUsage | null> {
  return call<QuotaUsage | null>('get_quota_usage', { id });
}
