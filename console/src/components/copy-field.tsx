import { useId, useState } from 'preact/hooks';

/** A read-only value with a Copy button (the stream key, the server URL…); `secret` hides it until shown. */
export function CopyField({ label, value, secret = false }: { label: string; value: string; secret?: boolean }) {
  const id = useId();
  const [copied, setCopied] = useState<'yes' | 'failed' | null>(null);
  const [shown, setShown] = useState(!secret);
  const copy = async (): Promise<void> => {
    try {
      await navigator.clipboard.writeText(value);
      setCopied('yes');
    } catch {
      // no clipboard permission (an insecure origin): the field is selected for a manual copy
      (document.getElementById(id) as HTMLInputElement | null)?.select();
      setCopied('failed');
    }
    window.setTimeout(() => setCopied(null), 2000);
  };
  return (
    <div class="copy-field">
      <label for={id}>{label}</label>
      <div class="copy-row">
        {/* (Preact's input types tie each type to its own attributes: a switching type is cast) */}
        <input id={id} type={(shown ? 'text' : 'password') as 'text'} readOnly value={value} spellcheck={false} autocomplete="off" onFocus={(e) => e.currentTarget.select()} />
        {secret && (
          <button type="button" onClick={() => setShown(!shown)} aria-pressed={shown}>
            {shown ? 'Hide' : 'Show'}
          </button>
        )}
        <button type="button" onClick={() => void copy()} aria-label={`Copy ${label}`}>
          Copy
        </button>
      </div>
      <span class="copy-status" role="status" aria-live="polite">
        {copied === 'yes' ? `${label} copied` : copied === 'failed' ? 'Press Ctrl+C to copy the selected text' : ''}
      </span>
    </div>
  );
}
