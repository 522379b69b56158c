// Runs once before the suite. Nothing global yet: each test file starts the engines it needs.
export default function setup(): void {}
