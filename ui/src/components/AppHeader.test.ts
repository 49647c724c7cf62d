import { render } from '@testing-library/svelte';
import { describe, expect, it } from 'vitest';
import { INFO, teamInfo } from '../test/fixtures';
import AppHeader from './AppHeader.svelte';
import ErrorScreen from './ErrorScreen.svelte';

const text = (id: string) => document.getElementById(id)?.textContent?.trim() ?? null;

describe('AppHeader', () => {
  it('names a SQLite file and where it is, without a login or role', () => {
    render(AppHeader, { props: { info: INFO } });
    expect(text('header-backend')).toBe('SQLite file');
    expect(text('header-location')).toBe(INFO.database_path);
    expect(document.getElementById('header-operator')).toBeNull();
  });

  it('names a PostgreSQL server, who is logged in and their role', () => {
    const info = teamInfo('manager');
    render(AppHeader, { props: { info } });
    expect(text('header-backend')).toBe('PostgreSQL');
    expect(text('header-location')).toBe('postgres://alice@db.example.com:5432/keyward');
    expect(text('header-operator')).toContain('alice');
    expect(text('header-role')).toBe('Manager');
  });

  it('shows no role when the database could not say', () => {
    render(AppHeader, { props: { info: { ...teamInfo('admin'), operator_role: null } } });
    expect(text('header-operator')).toBe('alice');
    expect(document.getElementById('header-role')).toBeNull();
  });
});

describe('ErrorScreen', () => {
  it('speaks of a server and a PostgreSQL address when the keys are on one', () => {
    render(ErrorScreen, {
      props: {
        message: 'The PostgreSQL server at db.example.com:5432 cannot be reached.',
        databasePath: 'postgres://alice@db.example.com:5432/keyward',
        version: '0.1.0',
        backend: 'postgres',
      },
    });
    expect(document.body).toHaveTextContent('PostgreSQL database');
    expect(document.body).toHaveTextContent('KEYWARD_DB=postgres://');
    expect(document.body).not.toHaveTextContent('Database file');
    expect(text('error-screen-message')).toContain('cannot be reached');
  });

  it('speaks of a file otherwise', () => {
    render(ErrorScreen, {
      props: { message: 'Damaged.', databasePath: '/tmp/k.db', version: null, backend: 'sqlite' },
    });
    expect(document.body).toHaveTextContent('Database file');
    expect(document.body).toHaveTextContent('KEYWARD_DB=/path/to/keys.db');
  });
});
