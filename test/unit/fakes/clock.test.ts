import { describe, expect, it } from '@jest/globals';
import { VIRTUAL_EPOCH, VirtualClock } from '../../support/fakes/clock.js';

describe('VirtualClock', () => {
  it('starts at its epoch and moves only when told', () => {
    const clock = new VirtualClock();
    expect(clock.now()).toBe(VIRTUAL_EPOCH);
    clock.advance(1500);
    expect(clock.now()).toBe(VIRTUAL_EPOCH + 1500);
    expect(() => clock.advance(-1)).toThrow();
    expect(new VirtualClock(42).now()).toBe(42);
  });

  it('sleeps an hour of virtual time in a moment of real time', async () => {
    const clock = new VirtualClock();
    const started = performance.now();
    await clock.sleep(60 * 60 * 1000);
    expect(clock.now()).toBe(VIRTUAL_EPOCH + 60 * 60 * 1000);
    expect(performance.now() - started).toBeLessThan(200);
  });

  it('wakes concurrent sleepers in the order of their wake-up times, each at its own time', async () => {
    const clock = new VirtualClock();
    const woke: [string, number][] = [];
    const nap = async (name: string, ms: number) => {
      await clock.sleep(ms);
      woke.push([name, clock.now() - VIRTUAL_EPOCH]);
    };
    await Promise.all([nap('long', 300), nap('short', 100), nap('middle', 200), nap('tie', 100), nap('now', 0)]);
    expect(woke).toEqual([
      ['now', 0],
      ['short', 100],
      ['tie', 100],
      ['middle', 200],
      ['long', 300],
    ]);
  });

  it('lets a woken sleeper finish its promise work before the next one wakes', async () => {
    const clock = new VirtualClock();
    const log: string[] = [];
    const worker = async () => {
      await clock.sleep(100);
      for (let i = 0; i < 50; i++) await Promise.resolve();
      log.push(`worker done at ${clock.now() - VIRTUAL_EPOCH}`);
      await clock.sleep(100);
      log.push(`worker again at ${clock.now() - VIRTUAL_EPOCH}`);
    };
    const poller = async () => {
      for (let i = 0; i < 4; i++) {
        await clock.sleep(60);
        log.push(`poll at ${clock.now() - VIRTUAL_EPOCH}`);
      }
    };
    await Promise.all([worker(), poller()]);
    expect(log).toEqual([
      'poll at 60',
      'worker done at 100',
      'poll at 120',
      'poll at 180',
      'worker again at 200',
      'poll at 240',
    ]);
    expect(clock.sleeping).toBe(0);
  });

  it('a time moved forward by hand wakes who is due, and a sleep of a negative time is no sleep', async () => {
    const clock = new VirtualClock();
    const late = clock.sleep(1000).then(() => clock.now() - VIRTUAL_EPOCH);
    clock.advance(5000);
    expect(await late).toBe(5000);
    await clock.sleep(-10);
    expect(clock.now() - VIRTUAL_EPOCH).toBe(5000);
  });
});
