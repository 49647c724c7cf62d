import '@testing-library/jest-dom/vitest';
import { cleanup } from '@testing-library/svelte';
import { clearMocks } from '@tauri-apps/api/mocks';
import { afterEach } from 'vitest';
import { resetStatus } from '../lib/status.svelte';

afterEach(() => {
  cleanup();
  clearMocks();
  resetStatus();
});
