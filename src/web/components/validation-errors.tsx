import type { ValidationError } from "../types";

/** Rows shown at most; the count in the heading is the whole list's. */
const SHOWN = 500;

/** The rows of an input file that failed validation, by row number. */
export function ValidationErrors(props: { errors: ValidationError[] }) {
  return (
    <div class="card" data-testid="validation-errors">
      <h2>
        Validation errors <span class="muted">({props.errors.length})</span>
      </h2>
      <table class="table compact">
        <thead>
          <tr>
            <th class="num">row</th>
            <th>error</th>
          </tr>
        </thead>
        <tbody>
          {props.errors.slice(0, SHOWN).map((e) => (
            <tr key={`${e.row}:${e.error}`}>
              <td class="num">{e.row}</td>
              <td class="err-text">{e.error}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {props.errors.length > SHOWN && <p class="muted">Showing the first 500.</p>}
    </div>
  );
}
