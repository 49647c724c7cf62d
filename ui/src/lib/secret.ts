const HIDDEN = '•'.repeat(12) + '…';

/**
 * A new key with its secret part hidden: `kw_3fJk9QzP0a_••••••••••••…`. Only the public prefix
 * and id (everything up to the last underscore) stay visible.
 */
export function maskToken(token: string): string {
  const cut = token.lastIndexOf('_');
  return cut < 0 ? HIDDEN : token.slice(0, cut + 1) + HIDDEN;
}
