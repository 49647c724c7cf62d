// How the app names the database engine and the operator's database role on screen.

import type { BackendKind } from '../bindings/BackendKind';
import type { OperatorRole } from '../bindings/OperatorRole';

export const BACKEND_LABELS: Record<BackendKind, string> = {
  sqlite: 'SQLite file',
  postgres: 'PostgreSQL',
};

export const OPERATOR_ROLE_LABELS: Record<OperatorRole, string> = {
  admin: 'Admin',
  manager: 'Manager',
  verifier: 'Verifier',
};
