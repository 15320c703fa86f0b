// Every test file fails on an unhandled rejection: a background refresh or a store
// write that rejects with nobody listening is a bug, not noise.
process.on('unhandledRejection', (reason) => {
  throw reason;
});
