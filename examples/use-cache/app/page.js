// Static: reads no cache entry, so the build never needs Redis for it.
export default function Home() {
  return (
    <main>
      <h1>&apos;use cache&apos; across instances</h1>
      <p>
        Every page below renders on each request (it awaits <code>connection()</code>) and reads the CMS through &apos;use cache&apos;
        functions and components. The stamps show which instance filled each cache entry, and when.
      </p>
    </main>
  )
}
