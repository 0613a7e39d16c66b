import { useState } from "preact/hooks";
import { ITEM_STATUSES, type ItemStatus } from "../types";

const ORDER: readonly ItemStatus[] = ITEM_STATUSES;
const SHOWN = 40;

/**
 * Seed 002's status map: the batch's custom_ids grouped by item status, drawn as one square per
 * item (hover shows the custom_id) plus the ids of each group.
 */
export function StatusMap(props: {
  groups: Partial<Record<ItemStatus, string[]>>;
  counts: Record<ItemStatus, number>;
  truncated: boolean;
  onPick: (customId: string) => void;
}) {
  const [open, setOpen] = useState<ItemStatus | null>(null);
  const cells = ORDER.flatMap((s) => (props.groups[s] ?? []).map((id) => ({ id, s })));
  return (
    <div class="status-map">
      <div class="cells" title="Items by status">
        {cells.map((c) => (
          <button
            type="button"
            key={c.id}
            class={`cell i-${c.s}`}
            title={`${c.id}: ${c.s}`}
            onClick={() => props.onPick(c.id)}
          />
        ))}
      </div>
      {props.truncated && <p class="muted">Showing the first {cells.length} items.</p>}
      <ul class="groups">
        {ORDER.map((s) => {
          const ids = props.groups[s] ?? [];
          return (
            <li key={s}>
              <button type="button" class="linklike" onClick={() => setOpen(open === s ? null : s)}>
                <i class={`dot i-${s}`} /> {s} <b>{props.counts[s].toLocaleString()}</b>
              </button>
              {open === s && (
                <div class="ids">
                  {ids.slice(0, SHOWN).map((id) => (
                    <button type="button" key={id} class="chip" onClick={() => props.onPick(id)}>
                      {id}
                    </button>
                  ))}
                  {ids.length > SHOWN && <span class="muted">+{ids.length - SHOWN} more</span>}
                  {ids.length === 0 && <span class="muted">none</span>}
                </div>
              )}
            </li>
          );
        })}
      </ul>
    </div>
  );
}
