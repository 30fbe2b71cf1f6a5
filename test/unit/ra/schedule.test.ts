import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  MAX_INITIAL_RTR_ADVERT_INTERVAL_MS,
  MAX_INITIAL_RTR_ADVERTISEMENTS,
  MAX_RA_DELAY_TIME_MS,
  MAX_RTR_ADV_INTERVAL_MS,
  MIN_DELAY_BETWEEN_RAS_MS,
  MIN_RTR_ADV_INTERVAL_MS,
  RaSchedule,
  RS_GLOBAL_BURST,
  RS_GLOBAL_PER_SECOND,
  RS_MAX_TRACKED_SOURCES,
  RS_PER_SOURCE_BURST,
  RS_PER_SOURCE_REFILL_MS,
} from '../../../src/ra/schedule.ts';

function fixture(randoms: number[] = [0.5]) {
  const clock = { t: 1_000_000 };
  let i = 0;
  const schedule = new RaSchedule({ now: () => clock.t, random: () => randoms[i++ % randoms.length] as number });
  return { clock, schedule };
}

/** Runs the schedule like the service's timer does and returns the times multicast RAs went out. */
function sendTimes(schedule: RaSchedule, clock: { t: number }, count: number): number[] {
  const times: number[] = [];
  while (times.length < count) {
    clock.t = schedule.nextDueAt();
    assert.ok(schedule.takeDue());
    times.push(clock.t);
  }
  return times;
}

test('the RFC 4861 §6.2.4 constants: 3 initial RAs 16 s apart, then 200-600 s', () => {
  assert.equal(MAX_INITIAL_RTR_ADVERTISEMENTS, 3);
  assert.equal(MAX_INITIAL_RTR_ADVERT_INTERVAL_MS, 16_000);
  assert.equal(MIN_DELAY_BETWEEN_RAS_MS, 3_000);
  assert.equal(MAX_RA_DELAY_TIME_MS, 500);
  assert.ok(MIN_RTR_ADV_INTERVAL_MS >= 3_000 && MIN_RTR_ADV_INTERVAL_MS <= 0.75 * MAX_RTR_ADV_INTERVAL_MS);
  assert.ok(MAX_RTR_ADV_INTERVAL_MS >= 4_000 && MAX_RTR_ADV_INTERVAL_MS <= 1_800_000);
});

test('the first RA is due at once, the first three are 16 s apart, the next ones random in [Min, Max]', () => {
  const { clock, schedule } = fixture([0, 0.25, 0.999, 0.5, 0, 0.999]);
  const start = clock.t;
  assert.equal(schedule.nextDueAt(), start);
  const times = sendTimes(schedule, clock, 7);
  const gaps = times.slice(1).map((t, i) => t - (times[i] as number));
  assert.equal(times[0], start);
  assert.deepEqual(gaps.slice(0, 2), [16_000, 16_000], 'capped even when the random interval is long');
  // After the third: Min + r * (Max - Min) for r = 0.999, 0.5, 0, 0.999
  const expected = [0.999, 0.5, 0, 0.999].map((r) => MIN_RTR_ADV_INTERVAL_MS + r * (MAX_RTR_ADV_INTERVAL_MS - MIN_RTR_ADV_INTERVAL_MS));
  assert.deepEqual(gaps.slice(2), expected);
});

test('takeDue is false before the due time and does not move it', () => {
  const { clock, schedule } = fixture();
  assert.ok(schedule.takeDue());
  const due = schedule.nextDueAt();
  clock.t = due - 1;
  assert.ok(!schedule.takeDue());
  assert.equal(schedule.nextDueAt(), due);
});

test('postpone retries without counting an initial RA', () => {
  const { clock, schedule } = fixture([0.9]);
  schedule.postpone(1_000);
  assert.equal(schedule.nextDueAt(), clock.t + 1_000);
  const times = sendTimes(schedule, clock, 4);
  assert.deepEqual(
    times.slice(1).map((t, i) => t - (times[i] as number)),
    [16_000, 16_000, MIN_RTR_ADV_INTERVAL_MS + 0.9 * (MAX_RTR_ADV_INTERVAL_MS - MIN_RTR_ADV_INTERVAL_MS)],
  );
});

test('a solicitation from an address is answered at once by unicast', () => {
  const { schedule } = fixture();
  assert.equal(schedule.onSolicitation('02:1a:b0:00:00:05', false), 'unicast');
  assert.equal(schedule.onSolicitation('02:1a:b0:00:00:06', false), 'unicast');
});

test('a solicitation from :: brings the multicast RA forward, no sooner than 3 s after the last and at most 0.5 s away', () => {
  const { clock, schedule } = fixture([0.5]);
  sendTimes(schedule, clock, 1);
  const last = clock.t;
  clock.t += 1_000;
  assert.equal(schedule.onSolicitation('02:1a:b0:00:00:05', true), 'multicast-scheduled');
  assert.equal(schedule.nextDueAt(), last + MIN_DELAY_BETWEEN_RAS_MS, 'MIN_DELAY_BETWEEN_RAS after the last');
  clock.t = schedule.nextDueAt();
  assert.ok(schedule.takeDue(), 'the second RA');
  clock.t += 10_000;
  assert.equal(schedule.onSolicitation('02:1a:b0:00:00:05', true), 'multicast-scheduled');
  assert.equal(schedule.nextDueAt(), clock.t + 0.5 * MAX_RA_DELAY_TIME_MS, 'random delay');
  // A later solicitation never pushes an earlier RA back.
  const due = schedule.nextDueAt();
  clock.t += 100;
  schedule.onSolicitation('02:1a:b0:00:00:07', true);
  assert.equal(schedule.nextDueAt(), due);
  // After it is sent the timer is reset as for an unsolicited RA (§6.2.6); it was the third, so the interval is a full one.
  clock.t = due;
  assert.ok(schedule.takeDue());
  assert.equal(schedule.nextDueAt(), due + MIN_RTR_ADV_INTERVAL_MS + 0.5 * (MAX_RTR_ADV_INTERVAL_MS - MIN_RTR_ADV_INTERVAL_MS));
});

test('per-source limit: a burst of MAX_RTR_SOLICITATIONS, then one a second', () => {
  const { clock, schedule } = fixture();
  const mac = '02:1a:b0:00:00:05';
  for (let i = 0; i < RS_PER_SOURCE_BURST; i++) assert.equal(schedule.onSolicitation(mac, false), 'unicast');
  assert.equal(schedule.onSolicitation(mac, false), 'rate-limited-source');
  assert.equal(schedule.onSolicitation('02:1a:b0:00:00:06', false), 'unicast', 'another source is not affected');
  clock.t += RS_PER_SOURCE_REFILL_MS - 1;
  assert.equal(schedule.onSolicitation(mac, false), 'rate-limited-source');
  clock.t += 1;
  assert.equal(schedule.onSolicitation(mac, false), 'unicast');
  assert.equal(schedule.onSolicitation(mac, false), 'rate-limited-source');
  // A host's own retransmissions (every 4 s, RFC 4861 §10) are always answered.
  for (let i = 0; i < 10; i++) {
    clock.t += 4_000;
    assert.equal(schedule.onSolicitation(mac, false), 'unicast');
  }
});

test('global limit: a flood from ever new sources gets at most the burst, then RS_GLOBAL_PER_SECOND a second', () => {
  const { clock, schedule } = fixture();
  let answered = 0;
  let refused = 0;
  let n = 0;
  const flood = (count: number): void => {
    for (let i = 0; i < count; i++) {
      const decision = schedule.onSolicitation(`src-${n++}`, false);
      if (decision === 'unicast') answered++;
      else if (decision === 'rate-limited-global') refused++;
      else assert.fail(decision);
    }
  };
  flood(10_000);
  assert.equal(answered, RS_GLOBAL_BURST);
  assert.equal(refused, 10_000 - RS_GLOBAL_BURST);
  // 10 more seconds of flood, 10 000 a second, 1 ms apart
  answered = 0;
  for (let ms = 0; ms < 10_000; ms++) {
    clock.t += 1;
    flood(10);
  }
  assert.ok(answered <= RS_GLOBAL_PER_SECOND * 10 + 1, `${answered} answered in 10 s`);
  assert.ok(answered >= RS_GLOBAL_PER_SECOND * 10 - 1, `${answered} answered in 10 s`);
  assert.ok(schedule.trackedSources <= RS_MAX_TRACKED_SOURCES, 'the source table stays bounded');
});

test('the source table forgets the oldest source when full', () => {
  const { schedule } = fixture();
  const first = 'first';
  for (let i = 0; i < RS_PER_SOURCE_BURST; i++) schedule.onSolicitation(first, false);
  assert.equal(schedule.onSolicitation(first, false), 'rate-limited-source');
  for (let i = 0; i < RS_MAX_TRACKED_SOURCES; i++) schedule.onSolicitation(`s${i}`, false);
  assert.equal(schedule.trackedSources, RS_MAX_TRACKED_SOURCES);
  // Forgotten, so it starts with a full bucket again (global tokens permitting: the clock has not moved)
  const decision = schedule.onSolicitation(first, false);
  assert.notEqual(decision, 'rate-limited-source');
});

test('bad intervals are refused', () => {
  assert.throws(() => new RaSchedule({ now: () => 0, random: () => 0, minIntervalMs: 10, maxIntervalMs: 5 }), RangeError);
  assert.throws(() => new RaSchedule({ now: () => 0, random: () => 0, minIntervalMs: 0 }), RangeError);
});
