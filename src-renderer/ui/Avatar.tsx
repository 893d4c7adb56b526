// A person's avatar: their initials on a colour picked from their fingerprint, so the same
// person always looks the same and two people with one name rarely do.
import { avatarColour, initialsOf } from '../state/derive.ts';

export function Avatar({
  name,
  fingerprint,
  size = 40,
  className = '',
}: {
  name: string | null;
  fingerprint: string;
  size?: number;
  className?: string;
}) {
  return (
    <span
      className={`avatar ${className}`}
      aria-hidden="true"
      style={{
        width: size,
        height: size,
        fontSize: Math.round(size * 0.4),
        background: avatarColour(fingerprint),
      }}
    >
      {initialsOf(name)}
    </span>
  );
}
