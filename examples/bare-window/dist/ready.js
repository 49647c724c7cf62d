// Same end point as Keyward's probe: two animation frames after the content is in the document,
// its frame has been painted. The navigation is caught (and cancelled) by the example's plugin.
window.addEventListener('DOMContentLoaded', () => {
  requestAnimationFrame(() =>
    requestAnimationFrame(() => {
      const [navigation] = performance.getEntriesByType('navigation');
      const dom = navigation ? navigation.domContentLoadedEventEnd : 0;
      window.location.href = `https://ready.invalid/?page-ms=${performance.now()}&dom-ms=${dom}`;
    }),
  );
});
