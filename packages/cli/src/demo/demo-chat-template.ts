/**
 * The chat template of the demo's models (Jinja, rendered by `@huggingface/jinja` like any
 * model's own): `User: …` / `Assistant: …` turns, BOS first when the vocabulary has one, EOS closing
 * each reply. Written into every demo teacher's `tokenizer_config.json`, so `fusechat capture`,
 * `eval` and `generate` find it there.
 *
 * @example
 * ```ts
 * renderChat([{ role: 'user', content: 'Continue this email:\nHi all,' }], { tokenizer, chatTemplate: DEMO_CHAT_TEMPLATE, addGenerationPrompt: true });
 * ```
 */
export const DEMO_CHAT_TEMPLATE = [
  '{% if bos_token %}{{ bos_token }}{% endif %}',
  "{% for message in messages %}{% if message['role'] == 'user' %}{{ 'User: ' + message['content'] + '\\n' }}",
  "{% elif message['role'] == 'assistant' %}{{ 'Assistant: ' + message['content'] + eos_token }}{% endif %}{% endfor %}",
  "{% if add_generation_prompt %}{{ 'Assistant:' }}{% endif %}",
].join('');
