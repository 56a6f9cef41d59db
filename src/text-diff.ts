/**
 * The smallest single edit that turns one string into another by keeping
 * their common prefix and suffix. Editing only the middle is what lets a
 * concurrent insert elsewhere in a Y.Text stay where its author put it; a
 * delete-everything-and-insert would drop it at one end.
 */
export interface TextEdit {
  /** UTF-16 offset where the edit starts (Y.Text indexes count UTF-16 code units). */
  index: number
  deleteCount: number
  insert: string
}

export function textDiff (before: string, after: string): TextEdit {
  const limit = Math.min(before.length, after.length)
  let prefix = 0
  while (prefix < limit && before.charCodeAt(prefix) === after.charCodeAt(prefix)) prefix++
  // Never end the kept prefix between the two halves of a surrogate pair.
  if (prefix > 0 && isHighSurrogate(before.charCodeAt(prefix - 1))) prefix--
  let suffix = 0
  while (suffix < limit - prefix && before.charCodeAt(before.length - 1 - suffix) === after.charCodeAt(after.length - 1 - suffix)) suffix++
  // Nor start the kept suffix with the second half of one.
  if (suffix > 0 && isLowSurrogate(before.charCodeAt(before.length - suffix))) suffix--
  return {
    index: prefix,
    deleteCount: before.length - prefix - suffix,
    insert: after.slice(prefix, after.length - suffix)
  }
}

function isHighSurrogate (unit: number): boolean {
  return unit >= 0xd800 && unit <= 0xdbff
}

function isLowSurrogate (unit: number): boolean {
  return unit >= 0xdc00 && unit <= 0xdfff
}
