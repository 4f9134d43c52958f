// The fair share a backer of a `fixed_price` campaign would pay if it closed
// now (API.md "Fair share"): each pledge is charged floor(amount × goal /
// total) when the total passes the goal (the settlement then adds at most one
// minor unit by largest remainder, so the charges sum to the goal exactly).

/** What `amount` would be charged if the campaign closed with `total` pledged
 * (this pledge included) on a price of `goal`: all of it unless the total
 * passes the goal. Integer minor units; BigInt so amount × goal cannot lose
 * digits past 2^53. */
export function fairShare(amount, goal, total) {
  if (!(amount > 0) || !(goal > 0) || total <= goal) return amount;
  return Number((BigInt(amount) * BigInt(goal)) / BigInt(total));
}
