/** File uploads the integration tests share: a multipart form posted as a client would. */

/** Posts `fields` and then `content` as the form's `file` (named `name`, of `type`) to `url`. */
export function postFile(
  url: string,
  key: string,
  fields: Record<string, string>,
  content: string,
  name = "in.csv",
  type = "text/csv",
): Promise<Response> {
  const form = new FormData();
  for (const [k, v] of Object.entries(fields)) form.append(k, v);
  form.append("file", new Blob([content], { type }), name);
  return fetch(url, { method: "POST", headers: { "x-api-key": key }, body: form });
}

/** Uploads `content` as a batch input file of the Codeer API at `base`; its id. */
export async function uploadBatchInput(base: string, key: string, content: string): Promise<string> {
  const res = await postFile(`${base}/api/v1/files`, key, { purpose: "batch_input" }, content);
  const body = (await res.json()) as any;
  if (res.status !== 201) throw new Error(JSON.stringify(body));
  return body.data.id;
}

/** A CSV of `rows` questions under the header `Ref,Question`, each with a comma to quote. */
export function questionsCsv(rows: number): string {
  const lines = ["Ref,Question"];
  for (let i = 1; i <= rows; i++) lines.push(`ref-${i},"Question ${i}, please"`);
  return `${lines.join("\n")}\n`;
}
