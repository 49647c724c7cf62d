// Where the virtual key list is scrolled, and which rows that puts on screen and in the DOM.
// Every row has the same height, so a scroll position maps straight to a row number
// (`./virtual` has the arithmetic). The table measures into it; the screen reads which pages
// to fetch from it, so a new query can move it back to the top even while no table is shown.

import { rowWindow, scrollToShow, type RowRange } from './virtual';

// Before layout (and in a test DOM) the container has no height; assume a typical one.
const FALLBACK_VIEWPORT_HEIGHT = 600;

export class ListViewport {
  /** The scroll container, while the table is on screen. */
  element = $state<HTMLElement | undefined>();
  scrollTop = $state(0);
  clientHeight = $state(0);
  /** The sticky header hides the rows scrolled under it, so rows are seen below it only. */
  headerHeight = $state(0);

  readonly rowHeight: number;
  readonly #rows: () => number;

  readonly height: number;
  /** The rows on screen. */
  readonly onScreen: RowRange;
  /** The rows in the DOM: one screenful either side of the screen, so a short scroll finds rows
   *  waiting. */
  readonly rendered: RowRange;

  /** Rows `rowHeight` px tall, `rows()` of them. */
  constructor(rowHeight: number, rows: () => number) {
    this.rowHeight = rowHeight;
    this.#rows = rows;
    this.height = $derived(
      this.clientHeight > 0
        ? Math.max(this.rowHeight, this.clientHeight - this.headerHeight)
        : FALLBACK_VIEWPORT_HEIGHT,
    );
    const screen = $derived(rowWindow(this.scrollTop, this.height, rowHeight, this.#rows()));
    const render = $derived(
      rowWindow(this.scrollTop, this.height, rowHeight, this.#rows(), Math.ceil(this.height / rowHeight)),
    );
    // Unlike the range objects, these numbers stay equal while a scroll stays within the same
    // rows, so what depends on the ranges is not worked out again for every pixel scrolled.
    const screenStart = $derived(screen.start);
    const screenEnd = $derived(screen.end);
    const renderStart = $derived(render.start);
    const renderEnd = $derived(render.end);
    this.onScreen = $derived({ start: screenStart, end: screenEnd });
    this.rendered = $derived({ start: renderStart, end: renderEnd });
  }

  /** Reads the container's scroll position and size (on scroll, resize, and when it appears). */
  measure(): void {
    const element = this.element;
    if (!element) return;
    this.scrollTop = element.scrollTop;
    this.clientHeight = element.clientHeight;
    this.headerHeight = element.querySelector('thead')?.offsetHeight ?? 0;
  }

  /** Back to the first row (a new query). */
  toTop(): void {
    this.scrollTop = 0;
    if (this.element) this.element.scrollTop = 0;
  }

  /**
   * Scrolls row `index` fully into view, clear of the sticky header and of `coveredBelow` px at
   * the bottom (the floating bulk bar).
   */
  reveal(index: number, coveredBelow: number): void {
    const element = this.element;
    if (!element) return;
    const target = scrollToShow(index, element.scrollTop, this.height - coveredBelow, this.rowHeight);
    if (target === null) return;
    element.scrollTop = target;
    this.scrollTop = element.scrollTop;
  }
}
