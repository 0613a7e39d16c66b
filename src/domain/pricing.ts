/** USD per million tokens, input and output. */
export type PriceTable = Record<string, { input: number; output: number }>;

/**
 * Cost of one call. Looks the model up as `provider/model`, then as the bare model name, then
 * as the longest price-table key the model name starts with (dated snapshots such as
 * `gpt-4o-mini-2024-07-18` are priced as their family). Unknown models cost 0.
 */
export function costOf(
  prices: PriceTable,
  provider: string,
  model: string,
  promptTokens: number,
  completionTokens: number,
): number {
  const price = prices[`${provider}/${model}`] ?? prices[model] ?? longestPrefix(prices, model);
  if (!price) return 0;
  return (promptTokens * price.input + completionTokens * price.output) / 1_000_000;
}

function longestPrefix(prices: PriceTable, model: string): { input: number; output: number } | undefined {
  let best: string | undefined;
  for (const key of Object.keys(prices)) {
    if (model.startsWith(key) && (!best || key.length > best.length)) best = key;
  }
  return best ? prices[best] : undefined;
}
