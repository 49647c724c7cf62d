// Which screen is showing. Shared so the header (rendered by each screen) and App agree.

export type Tab = 'keys' | 'owners' | 'audit' | 'server' | 'settings';

export const TABS: readonly { id: Tab; label: string }[] = [
  { id: 'keys', label: 'Keys' },
  { id: 'owners', label: 'Owners' },
  { id: 'audit', label: 'Audit log' },
  { id: 'server', label: 'Server' },
  { id: 'settings', label: 'Settings' },
];

export const nav = $state<{ tab: Tab }>({ tab: 'keys' });
