/**
 * "m•••@example.net": enough for the owner to recognise which of their addresses an email went to,
 * too little for someone looking over their shoulder to learn it.
 */
export function maskEmail(address: string): string {
  const at = address.lastIndexOf('@');
  if (at <= 0) return '•••';
  return `${address[0]}•••${address.slice(at)}`;
}
